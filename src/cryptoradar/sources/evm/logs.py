"""Pure log handling: wire schemas, topic filters and decoding into `WalletTrade`s. No I/O.

Wire structs keep the JSON-RPC field names. A watched wallet can sit on either side of a transfer and
an OR across topic positions does not exist, so each event gets one filter per side (§1.2 of the fact
sheet); wallets are OR-ed within a position in batches of `wallets_per_filter`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import msgspec

from cryptoradar.config.evm import ChainConfig, EvmConfig, WatchedWallet
from cryptoradar.events import WalletTrade

TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
TRANSFER_SINGLE_TOPIC = "0xc3d58168c5ae7397731d063d5bbf3d657854427343f4c083240f7aacaa2d0f62"
TRANSFER_BATCH_TOPIC = "0x4a39dc06d4c0dbc64b70af90fd698a233a518aa5d07e595d983b8c0526c8f7fb"
NATIVE_TRANSFER_TOPIC = "0x" + "0" * 63 + "1"
"""Not an event: marks the log `sources.evm.native` builds for a transaction's native value transfer."""
NATIVE_LOG_INDEX = -1
"""The log index of a native transfer: one per transaction, never a real log's index."""


class RpcLog(msgspec.Struct, frozen=True):
    """A log as eth_getLogs and `logs` subscriptions return it."""

    address: str
    topics: list[str]
    data: str
    blockNumber: str
    transactionHash: str
    logIndex: str
    blockHash: str = ""
    removed: bool = False
    blockTimestamp: str | None = None
    """Newer geth versions add it; absent on ganache."""


class RpcHead(msgspec.Struct, frozen=True):
    number: str
    hash: str
    timestamp: str


class TradeKind(StrEnum):
    ERC20 = "erc20"
    ERC1155 = "erc1155"
    POLYMARKET_FILL = "polymarket_fill"
    POLYMARKET_MATCH = "polymarket_match"
    NATIVE = "native"
    PENDING_TX = "pending_tx"


class TradeDirection(StrEnum):
    IN = "in"
    OUT = "out"
    BUY = "buy"
    SELL = "sell"


class DecodeError(ValueError):
    """A log that matched a filter but cannot be decoded; `kind` names the problem for metrics."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class LogFilter:
    """One eth_subscribe/eth_getLogs filter. `topics` positions: None = any, tuple = OR."""

    addresses: tuple[str, ...]
    """Empty means any contract."""
    topics: tuple[tuple[str, ...] | None, ...]

    def to_params(self) -> dict[str, object]:
        params: dict[str, object] = {"topics": [list(t) if t is not None else None for t in self.topics]}
        if self.addresses:
            params["address"] = list(self.addresses)
        return params


def pad_address(address: str) -> str:
    """An address as an indexed topic: 12 zero bytes then the 20 lowercase address bytes."""
    body = address.lower().removeprefix("0x")
    if len(body) != 40:
        raise ValueError(f"not an address: {address!r}")
    return "0x" + body.rjust(64, "0")


def topic_to_address(topic: str) -> str:
    if len(topic) != 66:
        raise DecodeError("bad_topic", f"topic of length {len(topic)}")
    return "0x" + topic[-40:].lower()


def build_filters(config: EvmConfig, chain: ChainConfig) -> list[LogFilter]:
    """Every filter needed so each watched event of each wallet on `chain` matches on either side."""
    wallets = sorted({w.address for w in config.wallets if w.chain == chain.name})
    watch = config.watch
    filters: list[LogFilter] = []
    for batch in _batches([pad_address(w) for w in wallets], config.wallets_per_filter):
        if watch.erc20:
            # from = W, then to = W; 3 topics excludes ERC-721 (tokenId indexed, 4 topics) by decoding.
            filters.append(LogFilter(watch.erc20_tokens, ((TRANSFER_TOPIC,), batch)))
            filters.append(LogFilter(watch.erc20_tokens, ((TRANSFER_TOPIC,), None, batch)))
        if watch.erc1155:
            erc1155: tuple[str, ...] = (TRANSFER_SINGLE_TOPIC, TRANSFER_BATCH_TOPIC)
            filters.append(LogFilter(watch.erc1155_contracts, (erc1155, None, batch)))
            filters.append(LogFilter(watch.erc1155_contracts, (erc1155, None, None, batch)))
        pm = watch.polymarket
        if pm.enabled:
            # The order owner is topic 2 (maker) on every fill, maker side and taker side alike.
            fills: tuple[str, ...] = (pm.order_filled_topic,)
            if pm.watch_orders_matched:
                fills += (pm.orders_matched_topic,)
            filters.append(LogFilter(pm.exchanges, (fills, None, batch)))
    return filters


def _batches(items: Sequence[str], size: int) -> Iterator[tuple[str, ...]]:
    for start in range(0, len(items), size):
        yield tuple(items[start : start + size])


def split_range(from_block: int, to_block: int, chunk_blocks: int) -> list[tuple[int, int]]:
    """Inclusive [from, to] split into inclusive chunks of at most `chunk_blocks` blocks."""
    if chunk_blocks < 1:
        raise ValueError("chunk_blocks must be >= 1")
    return [
        (start, min(start + chunk_blocks - 1, to_block))
        for start in range(from_block, to_block + 1, chunk_blocks)
    ]


def tx_url(chain: ChainConfig, tx_hash: str) -> str:
    """The chain explorer's page for a transaction."""
    return f"{chain.explorer_base_url.rstrip('/')}/tx/{tx_hash.lower()}"


def hex_int(value: str) -> int:
    try:
        return int(value, 16)
    except ValueError:
        raise DecodeError("bad_hex", f"not a hex quantity: {value[:80]!r}") from None


def _words(data: str) -> list[int]:
    body = data.removeprefix("0x")
    if len(body) % 64:
        raise DecodeError("bad_data", f"data of {len(body)} hex digits is not whole 32-byte words")
    return [int(body[i : i + 64], 16) for i in range(0, len(body), 64)]


def _uint_array(words: list[int], offset_bytes: int) -> list[int]:
    if offset_bytes % 32:
        raise DecodeError("bad_data", "array offset not word aligned")
    at = offset_bytes // 32
    if at >= len(words) or at + 1 + words[at] > len(words):
        raise DecodeError("bad_data", "array runs past the data")
    return words[at + 1 : at + 1 + words[at]]


@dataclass(frozen=True, slots=True)
class DecodeContext:
    """What decoding needs besides the log: who is watched and how to show amounts."""

    chain: ChainConfig
    wallets: dict[str, WatchedWallet]
    """Lowercase address -> wallet, for this chain only."""
    config: EvmConfig

    @classmethod
    def build(cls, config: EvmConfig, chain: ChainConfig) -> DecodeContext:
        return cls(chain, {w.address: w for w in config.wallets if w.chain == chain.name}, config)

    def token(self, contract: str) -> tuple[str, int]:
        for info in self.config.watch.tokens:
            if info.address == contract:
                return info.symbol, info.decimals
        return contract, self.config.watch.unknown_token_decimals


def decode_log(log: RpcLog, ctx: DecodeContext, ts_event_ns: int, ts_recv_ns: int) -> list[WalletTrade]:
    """The trades of watched wallets in one log (empty if the log involves none of them).

    One log can yield several trades: both sides watched, or a TransferBatch with several ids. They share
    (chain, tx_hash, log_index); `wallet` and `token` tell them apart.
    """
    if not log.topics:
        raise DecodeError("no_topics", "log without topics")
    topic0 = log.topics[0].lower()
    block_number = hex_int(log.blockNumber)
    log_index = hex_int(log.logIndex)
    contract = log.address.lower()
    pm = ctx.config.watch.polymarket

    def trade(
        wallet: str, direction: TradeDirection, kind: TradeKind, token: str, amount: float, other: str
    ) -> WalletTrade:
        watched = ctx.wallets[wallet]
        return WalletTrade(
            chain=ctx.chain.name,
            wallet=wallet,
            wallet_label=watched.label,
            direction=direction.value,
            kind=kind.value,
            token=token,
            amount=amount,
            counterparty=other,
            tx_hash=log.transactionHash.lower(),
            log_index=log_index,
            block_number=block_number,
            explorer_url=tx_url(ctx.chain, log.transactionHash),
            removed=log.removed,
            ts_event_ns=ts_event_ns,
            ts_recv_ns=ts_recv_ns,
        )

    def sides(sender: str, receiver: str, kind: TradeKind, token: str, amount: float) -> list[WalletTrade]:
        out: list[WalletTrade] = []
        if sender in ctx.wallets:
            out.append(trade(sender, TradeDirection.OUT, kind, token, amount, receiver))
        if receiver in ctx.wallets:
            out.append(trade(receiver, TradeDirection.IN, kind, token, amount, sender))
        return out

    if topic0 == TRANSFER_TOPIC:
        if len(log.topics) != 3:
            raise DecodeError("not_erc20", f"Transfer with {len(log.topics)} topics (ERC-721?)")
        words = _words(log.data)
        if len(words) != 1:
            raise DecodeError("bad_data", "ERC-20 Transfer data is not one word")
        symbol, decimals = ctx.token(contract)
        return sides(
            topic_to_address(log.topics[1]),
            topic_to_address(log.topics[2]),
            TradeKind.ERC20,
            symbol,
            words[0] / 10**decimals,
        )
    if topic0 in (TRANSFER_SINGLE_TOPIC, TRANSFER_BATCH_TOPIC):
        if len(log.topics) != 4:
            raise DecodeError("bad_topics", f"ERC-1155 event with {len(log.topics)} topics")
        sender, receiver = topic_to_address(log.topics[2]), topic_to_address(log.topics[3])
        words = _words(log.data)
        if topic0 == TRANSFER_SINGLE_TOPIC:
            if len(words) != 2:
                raise DecodeError("bad_data", "TransferSingle data is not two words")
            pairs = [(words[0], words[1])]
        else:
            if len(words) < 2:
                raise DecodeError("bad_data", "TransferBatch data too short")
            ids, values = _uint_array(words, words[0]), _uint_array(words, words[1])
            if len(ids) != len(values):
                raise DecodeError("bad_data", "TransferBatch ids and values differ in length")
            pairs = list(zip(ids, values, strict=True))
        symbol, decimals = ctx.token(contract)
        return [
            t
            for token_id, value in pairs
            for t in sides(sender, receiver, TradeKind.ERC1155, f"{symbol}:{token_id}", value / 10**decimals)
        ]
    if topic0 == NATIVE_TRANSFER_TOPIC:
        words = _words(log.data)
        if len(log.topics) != 3 or len(words) != 1:
            raise DecodeError("bad_native", "native transfer needs from, to and one value word")
        amount = words[0] / 10**ctx.chain.native_decimals
        sender, receiver = topic_to_address(log.topics[1]), topic_to_address(log.topics[2])
        return sides(sender, receiver, TradeKind.NATIVE, ctx.chain.native_symbol, amount)
    if topic0 in (pm.order_filled_topic, pm.orders_matched_topic):
        return _decode_polymarket(log, ctx, topic0 == pm.order_filled_topic, trade)
    raise DecodeError("unknown_topic", f"no decoder for topic0 {topic0}")


def _decode_polymarket(
    log: RpcLog, ctx: DecodeContext, is_fill: bool, trade: _TradeFactory
) -> list[WalletTrade]:
    """V2 OrderFilled: data = side(uint8), tokenId, makerAmountFilled, takerAmountFilled, fee, builder, metadata.

    `side` is the maker order's side (0 = BUY: the maker pays collateral and receives shares). The amount
    reported is the share count; the counterparty is the taker (the exchange itself for a taker order).
    """
    pm = ctx.config.watch.polymarket
    expected_topics, expected_words = (4, 7) if is_fill else (3, 4)
    if len(log.topics) != expected_topics:
        raise DecodeError("bad_topics", f"Polymarket event with {len(log.topics)} topics")
    words = _words(log.data)
    if len(words) != expected_words:
        raise DecodeError("bad_data", f"Polymarket event with {len(words)} data words")
    side, token_id, maker_amount, taker_amount = words[:4]
    if side > 1:
        raise DecodeError("bad_side", f"Polymarket side {side}")
    maker = topic_to_address(log.topics[2])
    if maker not in ctx.wallets:
        return []
    shares = taker_amount if side == 0 else maker_amount
    counterparty = topic_to_address(log.topics[3]) if is_fill else log.address.lower()
    return [
        trade(
            maker,
            TradeDirection.BUY if side == 0 else TradeDirection.SELL,
            TradeKind.POLYMARKET_FILL if is_fill else TradeKind.POLYMARKET_MATCH,
            f"polymarket:{token_id}",
            shares / 10**pm.share_decimals,
            counterparty,
        )
    ]


class _TradeFactory(Protocol):
    def __call__(
        self, wallet: str, direction: TradeDirection, kind: TradeKind, token: str, amount: float, other: str
    ) -> WalletTrade: ...
