"""Exactly-once log handling for one chain: dedup, confirmation gate, reorg retraction, the cursor.

Live notifications, WebSocket backfill and the polling fallback all feed `on_logs`; one dedup set keyed
by (tx_hash, log_index), persisted, makes overlaps harmless. The cursor (`last_processed_block`) only
moves forward, to a block whose logs have all been handled, and never past a log still held back for
confirmations: a restart re-reads from there and the dedup set drops what was already reported.

Reorgs: the WebSocket path gets `removed: true` copies. Polling and backfill never do, so the processor
keeps each reported (and held) log with its block hash for `reorg_check_depth_blocks`; the monitor
re-reads those blocks' hashes and `drop_reorged` retracts the logs of a block that was replaced.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

import msgspec
import structlog
from prometheus_client import Counter

from cryptoradar.core.clock import Clock
from cryptoradar.core.logging import LogOncePerKind
from cryptoradar.core.metrics import PARSE_ERRORS, REGISTRY
from cryptoradar.events import Event
from cryptoradar.sources.evm.logs import DecodeContext, DecodeError, RpcLog, decode_log, hex_int

log = structlog.get_logger(__name__)

EVM_LOGS = Counter(
    "cryptoradar_evm_logs_total",
    "Matched logs by chain, path (ws, backfill, poll) and outcome (emitted, duplicate, held, retracted...)",
    ["chain", "via", "outcome"],
    registry=REGISTRY,
)

_PRUNE_EVERY_BLOCKS = 1000

LogKey = tuple[str, int]
"""(tx_hash lowercase, log_index)"""


class WalletStore(Protocol):
    """Persistence the monitor needs; `storage.evm_sqlite.SqliteWalletStore` implements it."""

    async def load_cursor(self, chain: str) -> tuple[int, int] | None: ...
    async def save_cursor(self, chain: str, last_processed_block: int) -> None: ...
    async def load_seen(self, chain: str, since_block: int) -> set[tuple[str, int]]: ...
    async def mark_seen(self, chain: str, tx_hash: str, log_index: int, block_number: int) -> None: ...
    async def forget_seen(self, chain: str, tx_hash: str, log_index: int) -> None: ...
    async def prune_seen(self, chain: str, below_block: int) -> int: ...


Emit = Callable[[Event], Awaitable[None]]


class LogProcessor:
    """Turns matched logs into `WalletTrade` events exactly once per (tx_hash, log_index) per chain."""

    def __init__(
        self,
        ctx: DecodeContext,
        store: WalletStore,
        emit: Emit,
        clock: Clock,
        retention_blocks: int,
    ) -> None:
        self._ctx = ctx
        self._chain = ctx.chain.name
        self._store = store
        self._emit = emit
        self._clock = clock
        self._retention_blocks = retention_blocks
        self._seen: dict[LogKey, int] = {}
        """Emitted logs -> block number (bounded by pruning below cursor - retention)."""
        self._held: dict[LogKey, tuple[RpcLog, int]] = {}
        """Logs waiting for confirmations -> (log, recv ns)."""
        self._recent: dict[LogKey, RpcLog] = {}
        """Emitted logs with a block hash, kept for the reorg check (pruned by `recent_blocks`)."""
        gated = ctx.chain.confirmations > 0 or ctx.chain.use_finalized_tag
        self._release_height: int | None = -1 if gated else None
        """Logs above it wait (None: no gate). Moved by heads (confirmations) or by `release()` (finalized)."""
        self._block_ts_ns: dict[int, int] = {}
        self._bad_input = LogOncePerKind(clock=clock)
        self._pruned_at = 0
        self.cursor: int | None = None
        self.first_block: int | None = None
        """The block the monitor first started after: backfill never reads at or below it."""
        self.emitted_total = 0
        self.duplicates_total = 0

    async def start(self) -> None:
        """Load the persisted cursor and the recent dedup set."""
        saved = await self._store.load_cursor(self._chain)
        if saved is not None:
            self.cursor, self.first_block = saved
        since = 0 if self.cursor is None else max(0, self.cursor - self._retention_blocks)
        self._seen = {key: since for key in await self._store.load_seen(self._chain, since)}

    @property
    def confirmations(self) -> int:
        return self._ctx.chain.confirmations

    async def on_logs(self, logs: list[RpcLog], via: str, recv_ns: int) -> None:
        for entry in logs:
            await self._on_log(entry, via, recv_ns)

    async def _on_log(self, entry: RpcLog, via: str, recv_ns: int) -> None:
        try:
            key: LogKey = (entry.transactionHash.lower(), hex_int(entry.logIndex))
            block = hex_int(entry.blockNumber)
        except DecodeError as e:
            self._bad(e, via)
            return
        if entry.removed:
            await self._retract(key, entry, via, recv_ns)
            return
        if key in self._seen or key in self._held:
            self.duplicates_total += 1
            EVM_LOGS.labels(self._chain, via, "duplicate").inc()
            return
        if self._release_height is not None and block > self._release_height:
            self._held[key] = (entry, recv_ns)
            EVM_LOGS.labels(self._chain, via, "held").inc()
            return
        await self._publish(key, block, entry, via, recv_ns)

    async def _publish(self, key: LogKey, block: int, entry: RpcLog, via: str, recv_ns: int) -> None:
        # Claim the key before any await: the live path and a concurrent poll cannot both emit it.
        self._seen[key] = block
        try:
            trades = decode_log(entry, self._ctx, self._event_ts_ns(entry, block, recv_ns), recv_ns)
        except DecodeError as e:
            self._bad(e, via)
            trades = []
        for trade in trades:
            await self._emit(trade)
        self.emitted_total += len(trades)
        EVM_LOGS.labels(self._chain, via, "emitted").inc()
        if entry.blockHash and self._ctx.chain.reorg_check_depth_blocks > 0:
            self._recent[key] = entry
        # Emit before persisting: a crash in between repeats one trade (downstream dedup catches it)
        # rather than losing it.
        await self._store.mark_seen(self._chain, key[0], key[1], block)

    async def _retract(self, key: LogKey, entry: RpcLog, via: str, recv_ns: int) -> None:
        self._recent.pop(key, None)
        if self._held.pop(key, None) is not None:
            EVM_LOGS.labels(self._chain, via, "dropped_unconfirmed").inc()
            return
        if self._seen.pop(key, None) is None:
            EVM_LOGS.labels(self._chain, via, "removed_unknown").inc()
            return
        try:
            trades = decode_log(entry, self._ctx, self._clock.now_ns(), recv_ns)
        except DecodeError as e:
            self._bad(e, via)
            trades = []
        for trade in trades:
            await self._emit(trade)
        EVM_LOGS.labels(self._chain, via, "retracted").inc()
        # Forget it so that a re-inclusion in the new chain is reported again.
        await self._store.forget_seen(self._chain, key[0], key[1])

    def recent_blocks(self, lowest_block: int) -> list[int]:
        """The blocks of reported or held logs at or above `lowest_block`, ascending (older reported logs
        are forgotten here: they are past the reorg check depth)."""
        self._forget_recent_below(lowest_block)
        held = (e for e, _ in self._held.values() if e.blockHash)
        return sorted(
            {b for e in [*self._recent.values(), *held] if (b := hex_int(e.blockNumber)) >= lowest_block}
        )

    def _forget_recent_below(self, block: int) -> None:
        """Bound the reorg-check memory (the WebSocket path never calls `recent_blocks`)."""
        if self._recent:
            self._recent = {k: e for k, e in self._recent.items() if hex_int(e.blockNumber) >= block}

    async def drop_reorged(self, block: int, canonical_hash: str, via: str) -> int:
        """Retract what was reported from `block` under another hash than the chain's `canonical_hash`
        now, a correction each; forget such held logs. Returns how many logs went: the caller then
        re-reads the block, so a log re-included in the new chain comes back."""
        now_ns = self._clock.now_ns()
        canonical = canonical_hash.lower()
        stale = [
            (k, e)
            for k, e in [*self._recent.items(), *((k, e) for k, (e, _) in self._held.items())]
            if e.blockHash and hex_int(e.blockNumber) == block and e.blockHash.lower() != canonical
        ]
        for key, entry in stale:
            await self._retract(key, msgspec.structs.replace(entry, removed=True), via, now_ns)
        return len(stale)

    async def on_head(self, number: int, timestamp_s: int, live_synced: bool) -> None:
        """A new head: release logs that are now deep enough; advance the cursor if the live feed is whole.

        `live_synced` is true when the subscription has been unbroken since its backfill finished, so
        every log up to the previous block has been seen (logs of block `number` may still be on the way).
        """
        self._block_ts_ns[number] = timestamp_s * 1_000_000_000
        self._forget_recent_below(number - self._ctx.chain.reorg_check_depth_blocks)
        if len(self._block_ts_ns) > 512:
            for old in sorted(self._block_ts_ns)[:-256]:
                del self._block_ts_ns[old]
        if self._release_height is not None and not self._ctx.chain.use_finalized_tag:
            await self.release(number - self.confirmations)
        if live_synced:
            await self.advance_cursor(number - 1)

    async def release(self, height: int) -> None:
        """Emit held logs at or below `height` in block order."""
        if self._release_height is None:
            return
        self._release_height = max(self._release_height, height)
        ready = sorted(
            ((hex_int(e.blockNumber), hex_int(e.logIndex), k) for k, (e, _) in self._held.items()),
        )
        for block, _, key in ready:
            if block > self._release_height:
                break
            entry, recv_ns = self._held.pop(key)
            await self._publish(key, block, entry, "confirmed", recv_ns)

    async def advance_cursor(self, block: int) -> None:
        """Record that every log at or below `block` has been handled (held logs cap it)."""
        if self._held:
            block = min(block, min(hex_int(e.blockNumber) for e, _ in self._held.values()) - 1)
        if self.cursor is not None and block <= self.cursor:
            return
        self.cursor = block
        if self.first_block is None:
            self.first_block = block
        await self._store.save_cursor(self._chain, block)
        if block - self._pruned_at >= _PRUNE_EVERY_BLOCKS:
            self._pruned_at = block
            await self._prune(block)

    async def _prune(self, block: int) -> None:
        below = block - self._retention_blocks
        if below <= 0:
            return
        self._seen = {k: b for k, b in self._seen.items() if b >= below}
        await self._store.prune_seen(self._chain, below)

    def _event_ts_ns(self, entry: RpcLog, block: int, recv_ns: int) -> int:
        if entry.blockTimestamp is not None:
            try:
                return hex_int(entry.blockTimestamp) * 1_000_000_000
            except DecodeError:
                pass
        # Nodes without blockTimestamp in logs: the head's time if we have it, else our receive time.
        return self._block_ts_ns.get(block, recv_ns)

    def _bad(self, error: DecodeError, via: str) -> None:
        PARSE_ERRORS.labels("evm", error.kind).inc()
        EVM_LOGS.labels(self._chain, via, "bad").inc()
        if self._bad_input.should_log(error.kind):
            log.warning("evm_bad_log", chain=self._chain, kind=error.kind, error=str(error))
