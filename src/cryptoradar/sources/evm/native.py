"""Native-coin transfers from block bodies, and pending transactions of wallets that send their own.

Native transfers are not logs, so each block with a watched wallet as sender or receiver of a top-level
transaction's value yields a pseudo-log (`NATIVE_TRANSFER_TOPIC`, log index `NATIVE_LOG_INDEX`) that goes
through the same `LogProcessor`: exactly once on (tx hash, -1), confirmations, cursor, reorg handling
(a block re-read after a reorg simply yields the new chain's transactions). Value moved by contracts
(internal transactions) needs tracing and is not covered.

A pending transaction becomes a `WalletTrade` of kind `pending_tx` with the same identity (chain, tx
hash, -1, wallet, native token) as the native transfer it turns into when mined, so the alert pipeline's
dedup key sends one alert per transaction, not two.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import msgspec

from cryptoradar.core.clock import Clock
from cryptoradar.events import WalletTrade
from cryptoradar.sources.evm.logs import (
    NATIVE_LOG_INDEX,
    NATIVE_TRANSFER_TOPIC,
    DecodeContext,
    RpcLog,
    TradeDirection,
    TradeKind,
    hex_int,
    pad_address,
    tx_url,
)
from cryptoradar.sources.evm.processor import Emit, LogProcessor
from cryptoradar.sources.evm.rpc import Rpc, RpcError, RpcUnavailable, WsRpc


class RpcTx(msgspec.Struct, frozen=True):
    """A transaction as eth_getBlockByNumber(n, true) and eth_getTransactionByHash return it."""

    hash: str
    sender: str = msgspec.field(name="from")
    to: str | None = None
    value: str = "0x0"
    blockNumber: str | None = None


class RpcBlock(msgspec.Struct, frozen=True):
    number: str
    timestamp: str
    hash: str = ""
    transactions: list[RpcTx] = []


_BLOCK_DECODER: msgspec.json.Decoder[RpcBlock | None] = msgspec.json.Decoder(RpcBlock | None)
_TX_DECODER: msgspec.json.Decoder[RpcTx | None] = msgspec.json.Decoder(RpcTx | None)
_PENDING_DECODER: msgspec.json.Decoder[str | RpcTx] = msgspec.json.Decoder(str | RpcTx)
_PENDING_QUEUE = 10_000


def native_logs(block: RpcBlock, wallets: frozenset[str]) -> list[RpcLog]:
    """Pseudo-logs for the block's value transfers that involve a watched wallet (pure)."""
    out: list[RpcLog] = []
    for tx in block.transactions:
        sender, receiver, value = tx.sender.lower(), (tx.to or "").lower(), hex_int(tx.value)
        if not receiver or value == 0 or (sender not in wallets and receiver not in wallets):
            continue
        out.append(
            RpcLog(
                address="0x" + "0" * 40,
                topics=[NATIVE_TRANSFER_TOPIC, pad_address(sender), pad_address(receiver)],
                data="0x" + format(value, "064x"),
                blockNumber=block.number,
                transactionHash=tx.hash.lower(),
                logIndex=hex(NATIVE_LOG_INDEX),
                blockHash=block.hash,
                blockTimestamp=block.timestamp,
            )
        )
    return out


async def fetch_native_logs(
    rpc: Rpc, from_block: int, to_block: int, wallets: frozenset[str]
) -> list[RpcLog]:
    """Native transfers of watched wallets in blocks `from_block..to_block`, one call per block."""
    logs: list[RpcLog] = []
    for number in range(from_block, to_block + 1):
        raw = await rpc.call("eth_getBlockByNumber", [hex(number), True])
        try:
            block = _BLOCK_DECODER.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError) as e:
            raise RpcUnavailable(f"eth_getBlockByNumber: undecodable block ({e})") from None
        if block is None:
            raise RpcUnavailable(f"eth_getBlockByNumber: block {number} not available yet")
        logs.extend(native_logs(block, wallets))
    return logs


async def fetch_transaction(rpc: Rpc, tx_hash: str) -> RpcTx | None:
    """The transaction, or None when the node no longer (or not yet) knows it."""
    try:
        return _TX_DECODER.decode(await rpc.call("eth_getTransactionByHash", [tx_hash]))
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        raise RpcUnavailable(f"eth_getTransactionByHash: undecodable ({e})") from None


def pending_trade(tx: RpcTx, ctx: DecodeContext, senders: frozenset[str], now_ns: int) -> WalletTrade | None:
    """The `pending_tx` trade for a not yet mined transaction sent by a wallet in `senders` (pure)."""
    sender = tx.sender.lower()
    if sender not in senders or tx.blockNumber is not None:
        return None
    chain = ctx.chain
    return WalletTrade(
        chain=chain.name,
        wallet=sender,
        wallet_label=ctx.wallets[sender].label,
        direction=TradeDirection.OUT.value,
        kind=TradeKind.PENDING_TX.value,
        token=chain.native_symbol,
        amount=hex_int(tx.value) / 10**chain.native_decimals,
        counterparty=(tx.to or "").lower(),
        tx_hash=tx.hash.lower(),
        log_index=NATIVE_LOG_INDEX,
        block_number=0,
        explorer_url=tx_url(chain, tx.hash),
        removed=False,
        ts_event_ns=now_ns,
        ts_recv_ns=now_ns,
    )


class NativeWatcher:
    """One chain's native transfers (live: after each head; backfill/poll: `fetch` over the range) and
    pending transactions. Built by `ChainMonitor` only when the chain enables either."""

    def __init__(
        self,
        ctx: DecodeContext,
        processor: LogProcessor,
        emit: Emit,
        clock: Clock,
        on_problem: Callable[..., None],
    ) -> None:
        chain = ctx.chain
        self._ctx = ctx
        self._processor = processor
        self._emit = emit
        self._clock = clock
        self._on_problem = on_problem
        self.native = chain.native_transfers
        self._wallets = frozenset(ctx.wallets)
        self.pending_senders = frozenset(
            a for a, w in ctx.wallets.items() if w.pending_transactions and chain.pending_transactions
        )
        self._head = asyncio.Event()
        self._latest_head: int | None = None
        self.next_block: int | None = None
        """The first block the live follower has not read yet (set by the backfill)."""
        self._pending: asyncio.Queue[str] = asyncio.Queue(maxsize=_PENDING_QUEUE)

    async def fetch(self, rpc: Rpc, from_block: int, to_block: int) -> list[RpcLog]:
        """Backfill/poll: the range's native transfers; the live follower continues after `to_block`."""
        self.next_block = to_block + 1
        if not self.native or from_block > to_block:
            return []
        return await fetch_native_logs(rpc, from_block, to_block, self._wallets)

    def on_head(self, number: int) -> None:
        self._latest_head = number
        self._head.set()

    async def follow_heads(self, rpc: Rpc, source: str) -> None:
        """Live: read each new block's body, then move the cursor as `on_head` would without us (to the
        block before the head: its logs may still be on the way)."""
        while True:
            await self._head.wait()
            self._head.clear()
            head = self._latest_head
            if head is None or self.next_block is None or head < self.next_block:
                continue
            logs = await fetch_native_logs(rpc, self.next_block, head, self._wallets)
            await self._processor.on_logs(logs, source, self._clock.now_ns())
            self.next_block = head + 1
            await self._processor.advance_cursor(head - 1)

    async def subscribe_pending(self, rpc: WsRpc) -> None:
        """`newPendingTransactions` when some wallet asks for it; a node without it is logged and skipped."""
        if not self.pending_senders:
            return
        try:
            await rpc.subscribe(["newPendingTransactions"], self._on_pending)
        except RpcError as e:
            self._on_problem("pending_unsupported", reason=f"newPendingTransactions refused: {e}")

    async def _on_pending(self, payload: msgspec.Raw, recv_ns: int) -> None:
        """Runs in the socket reader: only queue the hash (fetching here would deadlock)."""
        try:
            item = _PENDING_DECODER.decode(payload)
        except (msgspec.DecodeError, msgspec.ValidationError):
            self._on_problem("bad_pending", reason="undecodable newPendingTransactions payload")
            return
        # Hashes (geth, ganache) or, where `true` was honoured, whole transactions.
        tx_hash = item if isinstance(item, str) else item.hash
        try:
            self._pending.put_nowait(tx_hash)
        except asyncio.QueueFull:
            self._on_problem(
                "pending_queue_full", reason="pending transactions arrive faster than we read them"
            )

    async def follow_pending(self, rpc: Rpc) -> None:
        while True:
            tx_hash = await self._pending.get()
            tx = await fetch_transaction(rpc, tx_hash)
            if tx is None:
                continue
            trade = pending_trade(tx, self._ctx, self.pending_senders, self._clock.now_ns())
            if trade is not None:
                await self._emit(trade)
