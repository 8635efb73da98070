"""The wallet monitor: WebSocket subscriptions first, `eth_getLogs` polling while the socket is down.

Per chain (`ChainMonitor`):

- WebSocket session (run by `sources.base.run_reconnecting`, backoff 1 s .. 60 s): connect, subscribe
  `newHeads` and the log filters, then backfill with chunked `eth_getLogs` from the persisted cursor to
  the head, then mark the feed ready (CONNECTED). A newHeads watchdog ends a silent session after
  `watchdog_block_times` x `block_time_hint_s`; websockets' ping/pong catches dead TCP.
- Polling fallback: while the session is not ready (or the WebSocket is disabled) poll new block
  ranges every `fallback_polling_interval_s`. Switching either way loses nothing and repeats nothing:
  both paths feed one `LogProcessor` (persisted dedup set + cursor).
- An OPERATOR `FeedStatus` when the WebSocket has been down longer than `operator_alert_after_s`.
- Optional: native transfers from block bodies and pending transactions (`native.NativeWatcher`), and
  the explorer API as the last resort while JSON-RPC polling fails too (`explorer.ExplorerPoller`).
  All of them feed the same `LogProcessor`, so every path de-duplicates against every other.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import aiohttp
import msgspec
import structlog
import websockets
from websockets.asyncio.client import ClientConnection

from cryptoradar.config.evm import ChainConfig, EvmConfig
from cryptoradar.core.backoff import Backoff
from cryptoradar.core.clock import Clock
from cryptoradar.core.logging import LogOncePerKind
from cryptoradar.core.metrics import PARSE_ERRORS
from cryptoradar.core.supervisor import TaskSupervisor
from cryptoradar.events import ConnectionState, FeedStatus, StatusLevel
from cryptoradar.sources.base import (
    ConnectionLost,
    ConnectionStateMachine,
    ReconnectPolicy,
    TokenBucket,
    run_reconnecting,
)
from cryptoradar.sources.evm.explorer import ExplorerPoller, ExplorerRateLimited
from cryptoradar.sources.evm.logs import DecodeContext, LogFilter, RpcHead, RpcLog, build_filters, hex_int
from cryptoradar.sources.evm.native import NativeWatcher
from cryptoradar.sources.evm.processor import Emit, LogProcessor, WalletStore
from cryptoradar.sources.evm.rpc import (
    BadFrame,
    HttpRpc,
    LogFetcher,
    Rpc,
    RpcError,
    RpcUnavailable,
    WsRpc,
    block_hash,
    block_number,
)

log = structlog.get_logger(__name__)

SOURCE = "evm"
_LOG_DECODER = msgspec.json.Decoder(RpcLog)
_HEAD_DECODER = msgspec.json.Decoder(RpcHead)


class ChainMonitor:
    """Watches one chain. Built and driven by `WalletMonitor`."""

    def __init__(
        self,
        config: EvmConfig,
        chain: ChainConfig,
        store: WalletStore,
        emit: Emit,
        clock: Clock,
        session: aiohttp.ClientSession,
    ) -> None:
        self.chain = chain
        self._emit = emit
        self._clock = clock
        self._filters: list[LogFilter] = build_filters(config, chain)
        ctx = DecodeContext.build(config, chain)
        self.processor = LogProcessor(ctx, store, emit, clock, config.dedup_retention_blocks)
        self._fetcher = LogFetcher(chain.get_logs_chunk_blocks)
        self._http: Rpc | None = (
            HttpRpc(session, chain.http_url, chain.request_timeout_s) if chain.http_url is not None else None
        )
        self._ws_enabled = chain.websocket_enabled and chain.ws_url is not None
        self._ws_ready = asyncio.Event()
        self._ws_down = asyncio.Event()
        """Set once a WebSocket session ended (or failed to start) and until the next one is ready."""
        self._live_synced = False
        self._last_head_loop_s = 0.0
        self._status_queue: asyncio.Queue[FeedStatus] = asyncio.Queue(maxsize=1000)
        self._machine = ConnectionStateMachine(SOURCE, f"{chain.name}-ws", clock, self._publish_status)
        self._bad_input = LogOncePerKind(clock=clock)
        self.reconnects = 0
        self._head_arrived = asyncio.Event()
        self.last_head: int | None = None
        """The last newHeads number fully handled."""
        self.polls = 0
        self.polling_active = False
        self._rpc_poll_failing = self._http is None
        """True while JSON-RPC polling cannot serve (last poll failed, or no HTTP endpoint)."""
        self._explorer: ExplorerPoller | None = None
        explorer = chain.explorer_api
        if explorer is not None and explorer.enabled and config.watch.erc20:
            self._explorer = ExplorerPoller(
                explorer,
                chain,
                [w.address for w in config.wallets if w.chain == chain.name],
                config.watch.erc20_tokens,
                session,
            )
        self.native: NativeWatcher | None = None
        if chain.native_transfers or chain.pending_transactions:
            self.native = NativeWatcher(ctx, self.processor, emit, clock, self._log_once)

    async def start(self, supervisor: TaskSupervisor) -> None:
        """Load persisted state and start this chain's tasks; never waits for the node."""
        await self.processor.start()
        supervisor.start(self._forward_status(), f"{self.chain.name}:status")
        supervisor.start(self._launch(supervisor), f"{self.chain.name}:launch")

    async def _launch(self, supervisor: TaskSupervisor) -> None:
        if self.processor.cursor is None:
            await self._init_cursor()
        if self._ws_enabled:
            supervisor.start(self._run_ws(), f"{self.chain.name}:ws")
            supervisor.start(self._watch_outage(), f"{self.chain.name}:outage")
        else:
            self._ws_down.set()
        if self._http is not None:
            supervisor.start(self._poll_loop(), f"{self.chain.name}:poll")
        if self._explorer is not None:
            supervisor.start(self._explorer_loop(self._explorer), f"{self.chain.name}:explorer")

    def close(self) -> None:
        self._machine.close()

    @property
    def state(self) -> ConnectionState:
        return self._machine.state

    @property
    def ws_ready(self) -> bool:
        return self._ws_ready.is_set()

    async def _init_cursor(self) -> None:
        """First start: begin at `start_block`, or at the current head (history is not replayed)."""
        if self.chain.start_block is not None:
            await self.processor.advance_cursor(self.chain.start_block)
            return
        while True:
            try:
                rpc_head = await self._head_any()
                await self.processor.advance_cursor(rpc_head)
                return
            except (
                RpcUnavailable,
                RpcError,
                OSError,
                TimeoutError,
                websockets.exceptions.WebSocketException,
            ) as e:
                self._log_once("init_cursor", error=f"{type(e).__name__}: {e}")
                await asyncio.sleep(1.0)

    async def _head_any(self) -> int:
        if self._http is not None:
            return await block_number(self._http)
        async with websockets.connect(self._ws_url(), open_timeout=self.chain.open_timeout_s) as ws:
            rpc = WsRpc(ws, self._clock, self.chain.request_timeout_s, self._on_bad_frame)
            reader = asyncio.create_task(rpc.read_forever())
            try:
                return await block_number(rpc)
            finally:
                await _cancel(reader)

    # --- WebSocket path ---------------------------------------------------------------------------

    def _ws_url(self) -> str:
        if self.chain.ws_url is None:
            raise RuntimeError("WebSocket path started without ws_url")
        return self.chain.ws_url.get_secret_value()

    async def _run_ws(self) -> None:
        policy = ReconnectPolicy(
            backoff=Backoff(initial_s=1, max_s=60),
            connect_limiter=TokenBucket(rate_per_s=1.0, burst=3),
            unreachable_hint=f"{self.chain.name} node unreachable",
        )
        await run_reconnecting(self._machine, policy, self._ws_session)

    async def _ws_session(self, ready: Callable[[], None]) -> None:
        chain = self.chain
        try:
            async with websockets.connect(
                self._ws_url(),
                open_timeout=chain.open_timeout_s,
                ping_interval=chain.ping_interval_s,
                ping_timeout=chain.ping_timeout_s,
                close_timeout=1.0,
                max_size=None,
            ) as ws:
                await self._serve(ws, ready)
        finally:
            task = asyncio.current_task()
            if self._ws_ready.is_set() and not (task is not None and task.cancelling()):
                self.reconnects += 1  # a live feed was lost (a stop is not a reconnect)
            self._live_synced = False
            self._ws_ready.clear()
            self._ws_down.set()

    async def _serve(self, ws: ClientConnection, ready: Callable[[], None]) -> None:
        rpc = WsRpc(ws, self._clock, self.chain.request_timeout_s, self._on_bad_frame)
        reader = asyncio.create_task(rpc.read_forever(), name=f"{self.chain.name}:ws-reader")
        tasks: set[asyncio.Task[None]] = {reader}
        loop = asyncio.get_running_loop()
        try:
            # Subscribe first, then backfill: anything mined in between arrives on both paths and the
            # dedup set drops the second copy; nothing falls in a gap.
            await rpc.subscribe(["newHeads"], self._on_head)
            for flt in self._filters:
                await rpc.subscribe(["logs", flt.to_params()], self._on_log)
            if self.native is not None:
                await self.native.subscribe_pending(rpc)
            self._last_head_loop_s = loop.time()
            await self._catch_up(rpc, "backfill")
            if self.native is not None:
                name = self.chain.name
                if self.native.native:
                    tasks.add(asyncio.create_task(self.native.follow_heads(rpc, "ws"), name=f"{name}:native"))
                if self.native.pending_senders:
                    tasks.add(asyncio.create_task(self.native.follow_pending(rpc), name=f"{name}:pending"))
            if self.chain.use_finalized_tag:
                tasks.add(
                    asyncio.create_task(self._follow_finalized(rpc), name=f"{self.chain.name}:finalized")
                )
            self._live_synced = True
            self._ws_ready.set()
            self._ws_down.clear()
            ready()
            watchdog_s = self.chain.watchdog_block_times * self.chain.block_time_hint_s
            while True:
                remaining_s = self._last_head_loop_s + watchdog_s - loop.time()
                if remaining_s <= 0:
                    raise ConnectionLost(f"stale: no newHeads for {watchdog_s:.1f}s")
                done, _ = await asyncio.wait(tasks, timeout=remaining_s, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()
                    raise ConnectionLost("closed")
        finally:
            for task in tasks:
                await _cancel(task)

    async def _follow_finalized(self, rpc: WsRpc) -> None:
        """After each new head, release held logs up to the `finalized` block (not from the reader task:
        a handler awaiting a call on its own connection would deadlock)."""
        while True:
            await self._head_arrived.wait()
            self._head_arrived.clear()
            if self.last_head is None:
                continue
            finalized = await block_number(rpc, "finalized")
            await self.processor.release(min(finalized, self.last_head - self.processor.confirmations))

    async def _on_head(self, payload: msgspec.Raw, recv_ns: int) -> None:
        try:
            head = _HEAD_DECODER.decode(payload)
            number, timestamp_s = hex_int(head.number), hex_int(head.timestamp)
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as e:
            self._on_bad_frame(BadFrame(f"bad newHeads payload: {e}"))
            return
        self._last_head_loop_s = asyncio.get_running_loop().time()
        # With native transfers the native follower moves the cursor, once it has read the block bodies.
        native_live = self.native is not None and self.native.native
        await self.processor.on_head(number, timestamp_s, self._live_synced and not native_live)
        self.last_head = number
        if self.native is not None:
            self.native.on_head(number)
        self._head_arrived.set()

    async def _on_log(self, payload: msgspec.Raw, recv_ns: int) -> None:
        try:
            entry = _LOG_DECODER.decode(payload)
        except (msgspec.DecodeError, msgspec.ValidationError) as e:
            self._on_bad_frame(BadFrame(f"bad log payload: {e}"))
            return
        await self.processor.on_logs([entry], "ws", recv_ns)

    # --- Backfill and polling (shared) -------------------------------------------------------------

    async def _catch_up(self, rpc: Rpc, via: str) -> None:
        """Fetch every filter's logs from the cursor (minus the reorg margin) to the head; release to the safe height."""
        head = await block_number(rpc)
        safe = head - self.processor.confirmations
        if self.chain.use_finalized_tag:
            safe = min(safe, await block_number(rpc, "finalized"))
        cursor = self.processor.cursor if self.processor.cursor is not None else head
        if head < cursor:
            # The node is behind what we processed (restarted from an older state): re-read from there.
            log.warning("evm_head_behind_cursor", chain=self.chain.name, head=head, cursor=cursor)
        floor = self.processor.first_block if self.processor.first_block is not None else cursor
        from_block = max(floor + 1, cursor + 1 - self.chain.reorg_margin_blocks)
        reorged = await self._check_reorgs(rpc, head, via)
        if reorged is not None:
            from_block = max(floor + 1, min(from_block, reorged))
        await self.processor.release(safe)
        native_logs = [] if self.native is None else await self.native.fetch(rpc, from_block, head)
        if from_block <= head:
            # Up to the head, not the safe height: logs above it are held by the processor's gate
            # (and cap the cursor), so nothing between the two is skipped.
            recv_ns = self._clock.now_ns()
            logs: list[RpcLog] = native_logs
            for flt in self._filters:
                logs.extend(await self._fetcher.fetch(rpc, flt, from_block, head))
            logs.sort(key=lambda e: (hex_int(e.blockNumber), hex_int(e.logIndex)))
            await self.processor.on_logs(logs, via, recv_ns)
            await self.processor.advance_cursor(head)

    async def _check_reorgs(self, rpc: Rpc, head: int, via: str) -> int | None:
        """Compare the hash of each recent block we reported a log from with the chain's; retract the logs
        of replaced blocks. Returns the lowest such block (to re-read from), or None.

        This is how polling and backfill see a reorg: only the WebSocket path gets `removed: true`."""
        depth = self.chain.reorg_check_depth_blocks
        if depth == 0:
            return None
        lowest: int | None = None
        for block in self.processor.recent_blocks(head - depth):
            if block > head:
                break  # a node behind us (a lagging replica) cannot judge it; a later poll will
            canonical = await block_hash(rpc, block)
            if canonical is None:
                continue  # not served (pruned, lagging replica): no verdict; a shorter chain regrows
            if await self.processor.drop_reorged(block, canonical, via):
                log.warning("evm_reorg", chain=self.chain.name, block=block, head=head, via=via)
                lowest = block if lowest is None else lowest
        return lowest

    async def _poll_loop(self) -> None:
        assert self._http is not None
        interval_s = self.chain.fallback_polling_interval_s
        while True:
            if self._ws_enabled:
                if self.polling_active and not self._ws_down.is_set():
                    self._set_polling(False)
                await self._ws_down.wait()
                if not self.polling_active:
                    self._set_polling(True)
            try:
                await self._catch_up(self._http, "poll")
                self.polls += 1
                self._rpc_poll_failing = False
            except (RpcUnavailable, RpcError) as e:
                self._rpc_poll_failing = True
                self._log_once("poll_failed", error=str(e))
            if self._ws_enabled:
                # Wake early when the WebSocket recovers, so polling stops at once.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._ws_ready.wait(), timeout=interval_s)
            else:
                await asyncio.sleep(interval_s)

    async def _explorer_loop(self, poller: ExplorerPoller) -> None:
        """Last resort: poll the explorer while the WebSocket is down and JSON-RPC polling fails.

        Reads from the cursor (minus the reorg margin) or from the highest block the explorer returned
        before, whichever is later; the processor drops what any path reported already.
        """
        assert self.chain.explorer_api is not None
        interval_s = self.chain.explorer_api.poll_interval_s
        high_water = 0
        while True:
            if self._ws_enabled:
                await self._ws_down.wait()
            # Wait first: the RPC poller gets its chance before the explorer budget is spent.
            await asyncio.sleep(interval_s)
            cursor = self.processor.cursor
            if not self._rpc_poll_failing or cursor is None or (self._ws_enabled and self._ws_ready.is_set()):
                continue
            try:
                logs = await poller.poll(max(cursor + 1 - self.chain.reorg_margin_blocks, high_water))
            except ExplorerRateLimited as e:
                self._log_once("explorer_rate_limited", error=str(e))
                await asyncio.sleep(e.retry_after_s or interval_s)
                continue
            except RpcUnavailable as e:
                self._log_once("explorer_failed", error=str(e))
                continue
            if logs:
                high_water = max(high_water, *(hex_int(e.blockNumber) for e in logs))
            await self.processor.on_logs(logs, "explorer", self._clock.now_ns())

    def _set_polling(self, active: bool) -> None:
        self.polling_active = active
        now_ns = self._clock.now_ns()
        self._publish_status(
            FeedStatus(
                source=SOURCE,
                connection_id=f"{self.chain.name}-poll",
                state=ConnectionState.CONNECTED if active else ConnectionState.DISCONNECTED,
                level=StatusLevel.WARNING if active else StatusLevel.INFO,
                reason=(
                    f"polling fallback every {self.chain.fallback_polling_interval_s}s"
                    if active
                    else "WebSocket back; polling stopped"
                ),
                ts_event_ns=now_ns,
                ts_recv_ns=now_ns,
            )
        )

    # --- Status ------------------------------------------------------------------------------------

    async def _watch_outage(self) -> None:
        """One OPERATOR FeedStatus per outage longer than `operator_alert_after_s`."""
        while True:
            await self._ws_down.wait()
            try:
                await asyncio.wait_for(self._ws_ready.wait(), timeout=self.chain.operator_alert_after_s)
                continue
            except TimeoutError:
                pass
            now_ns = self._clock.now_ns()
            self._publish_status(
                FeedStatus(
                    source=SOURCE,
                    connection_id=f"{self.chain.name}-ws",
                    state=self._machine.state,
                    level=StatusLevel.OPERATOR,
                    reason=f"WebSocket down for more than {self.chain.operator_alert_after_s:g}s; "
                    f"polling every {self.chain.fallback_polling_interval_s:g}s",
                    ts_event_ns=now_ns,
                    ts_recv_ns=now_ns,
                )
            )
            await self._ws_ready.wait()

    def _publish_status(self, status: FeedStatus) -> None:
        try:
            self._status_queue.put_nowait(status)
        except asyncio.QueueFull:
            self._log_once("status_queue_full")

    async def _forward_status(self) -> None:
        while True:
            await self._emit(await self._status_queue.get())

    async def flush_status(self) -> None:
        """Deliver queued status events (used on stop, after the forwarder is cancelled)."""
        while not self._status_queue.empty():
            await self._emit(self._status_queue.get_nowait())

    def _on_bad_frame(self, error: BadFrame) -> None:
        PARSE_ERRORS.labels(SOURCE, "bad_frame").inc()
        self._log_once("bad_frame", error=str(error))

    def _log_once(self, kind: str, **fields: object) -> None:
        if self._bad_input.should_log(kind):
            log.warning("evm_" + kind, chain=self.chain.name, **fields)


async def _cancel(task: asyncio.Task[None] | asyncio.Task[int]) -> None:
    """Cancel a child task and wait for it without swallowing our own cancellation."""
    task.cancel()
    await asyncio.wait({task})
    if not task.cancelled():
        task.exception()


class WalletMonitor:
    """Watches every configured chain; emits `WalletTrade` and `FeedStatus` events through `emit`.

    `run()` returns only when `stop()` is called (or is cancelled). `emit` may block (backpressure): the
    monitor never drops a trade.
    """

    def __init__(self, config: EvmConfig, store: WalletStore, emit: Emit, clock: Clock) -> None:
        self._config = config
        self._store = store
        self._emit = emit
        self._clock = clock
        self._supervisor = TaskSupervisor("evm")
        self._stopped = asyncio.Event()
        self.chains: dict[str, ChainMonitor] = {}

    async def run(self) -> None:
        async with aiohttp.ClientSession() as session:
            try:
                for chain in self._config.chains:
                    if not any(w.chain == chain.name for w in self._config.wallets):
                        continue
                    monitor = ChainMonitor(self._config, chain, self._store, self._emit, self._clock, session)
                    self.chains[chain.name] = monitor
                    await monitor.start(self._supervisor)
                await self._stopped.wait()
            finally:
                await self._supervisor.stop()
                for monitor in self.chains.values():
                    monitor.close()
                    await monitor.flush_status()

    async def stop(self) -> None:
        self._stopped.set()
