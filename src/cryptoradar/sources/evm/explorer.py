"""The last-resort source: an Etherscan-v2-style explorer API (`module=account&action=tokentx`).

Explorer rows are rebuilt as ERC-20 `Transfer` logs (`RpcLog`) and go through the same `LogProcessor` as
live and polled logs, so they de-duplicate against the RPC paths on (tx hash, log index). Rows without a
`logIndex` (older explorer versions) cannot be matched exactly once and are counted and dropped.

Budget (fact sheet §5.2): one call per wallet per round, at most `calls_per_s`; a "rate limit" reply
backs the whole poller off. The explorer only covers ERC-20 transfers, so it never moves the chain's
cursor: when JSON-RPC comes back its backfill re-reads the range and finds the rest (fills, ERC-1155).
Error messages never include the URL: it carries the API key.
"""

from __future__ import annotations

import aiohttp
import msgspec

from cryptoradar.config.evm import ChainConfig, ExplorerApiConfig
from cryptoradar.core.metrics import PARSE_ERRORS
from cryptoradar.sources.base import TokenBucket
from cryptoradar.sources.evm.logs import TRANSFER_TOPIC, RpcLog, hex_int, pad_address
from cryptoradar.sources.evm.rpc import RpcUnavailable


class ExplorerTokenTx(msgspec.Struct, frozen=True):
    """One `tokentx` row, with the explorer's own field names (numbers as decimal strings)."""

    blockNumber: str
    timeStamp: str
    hash: str
    sender: str = msgspec.field(name="from")
    to: str = ""
    contractAddress: str = ""
    value: str = "0"
    blockHash: str = ""
    logIndex: str | None = None


class _Reply(msgspec.Struct, frozen=True):
    message: str = ""
    result: msgspec.Raw = msgspec.Raw(b"null")


_REPLY_DECODER = msgspec.json.Decoder(_Reply)
_RESULT_DECODER = msgspec.json.Decoder(list[ExplorerTokenTx] | str)


class ExplorerRateLimited(RpcUnavailable):
    """The explorer said "Max rate limit reached": back off before the next call."""


class BadExplorerRow(ValueError):
    """A row that cannot become a log (no logIndex, malformed number or address)."""


def to_rpc_log(row: ExplorerTokenTx) -> RpcLog:
    """The ERC-20 Transfer log an explorer row describes; raises `BadExplorerRow`."""
    if row.logIndex is None or row.logIndex == "":
        raise BadExplorerRow("row without logIndex: cannot de-duplicate on (tx hash, log index)")
    try:
        value = int(row.value)
        return RpcLog(
            address=row.contractAddress.lower(),
            topics=[TRANSFER_TOPIC, pad_address(row.sender), pad_address(row.to)],
            data="0x" + format(value, "064x"),
            blockNumber=hex(int(row.blockNumber)),
            transactionHash=row.hash.lower(),
            logIndex=hex(int(row.logIndex)),
            blockHash=row.blockHash.lower(),
            blockTimestamp=hex(int(row.timeStamp)),
        )
    except ValueError as e:
        raise BadExplorerRow(str(e)) from None


class ExplorerPoller:
    """Fetches `tokentx` rows of every watched wallet of one chain from a block on, within the rate limit."""

    def __init__(
        self,
        config: ExplorerApiConfig,
        chain: ChainConfig,
        wallets: list[str],
        tokens: tuple[str, ...],
        session: aiohttp.ClientSession,
    ) -> None:
        self._config = config
        self._chain_id = chain.chain_id
        self._wallets = sorted(wallets)
        self._tokens = frozenset(tokens)
        """ERC-20 allow-list (empty: every token), as the RPC filters use it."""
        self._session = session
        self._bucket = TokenBucket(rate_per_s=config.calls_per_s, burst=1)
        self._timeout = aiohttp.ClientTimeout(total=config.request_timeout_s)

    async def poll(self, from_block: int) -> list[RpcLog]:
        """Every allowed transfer of every wallet at or after `from_block`, in block and log order."""
        logs: dict[tuple[str, str], RpcLog] = {}
        for wallet in self._wallets:
            for entry in await self._wallet_rows(wallet, from_block):
                # A transfer between two watched wallets is listed for both: one log.
                logs[(entry.transactionHash, entry.logIndex)] = entry
        return sorted(logs.values(), key=lambda e: (hex_int(e.blockNumber), hex_int(e.logIndex)))

    async def _wallet_rows(self, wallet: str, from_block: int) -> list[RpcLog]:
        out: list[RpcLog] = []
        start = from_block
        while True:
            rows = await self._call(wallet, start)
            for row in rows:
                if self._tokens and row.contractAddress.lower() not in self._tokens:
                    continue
                try:
                    out.append(to_rpc_log(row))
                except BadExplorerRow:
                    PARSE_ERRORS.labels("evm", "explorer_row").inc()
            if len(rows) < self._config.page_size:
                return out
            # A full page: continue from its last block (inclusive: that block may go on; the
            # processor drops the repeats).
            last = int(rows[-1].blockNumber)
            if last <= start:
                return out  # one block holds more than a page: nothing more we can page by block
            start = last

    async def _call(self, wallet: str, start_block: int) -> list[ExplorerTokenTx]:
        await self._bucket.acquire()
        params = {
            "chainid": str(self._chain_id),
            "module": "account",
            "action": "tokentx",
            "address": wallet,
            "startblock": str(start_block),
            "page": "1",
            "offset": str(self._config.page_size),
            "sort": "asc",
            "apikey": self._config.api_key.get_secret_value(),
        }
        try:
            async with self._session.get(self._config.base_url, params=params, timeout=self._timeout) as resp:
                if resp.status == 429 or resp.status >= 500:
                    raise ExplorerRateLimited(f"explorer: HTTP {resp.status}", 1.0 / self._config.calls_per_s)
                if resp.status != 200:
                    raise RpcUnavailable(f"explorer: HTTP {resp.status}")
                payload = await resp.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as e:
            raise RpcUnavailable(f"explorer: {type(e).__name__}") from None
        try:
            reply = _REPLY_DECODER.decode(payload)
            result = _RESULT_DECODER.decode(reply.result)
        except (msgspec.DecodeError, msgspec.ValidationError) as e:
            raise RpcUnavailable(f"explorer: undecodable reply ({e})") from None
        # A list, possibly empty ("No transactions found" comes with status "0" and []); else the result
        # is an error text ("Max rate limit reached", "Invalid API Key", ...).
        if isinstance(result, list):
            return result
        if "rate limit" in result.lower():
            raise ExplorerRateLimited(f"explorer: {result[:120]}", 1.0)
        raise RpcUnavailable(f"explorer: {reply.message}: {result[:120]}")
