"""A pool of combined-stream WebSocket connections for one Binance market.

Contract:

- `set_streams(names)` declares the wanted stream set; the pool subscribes and unsubscribes live. Streams
  are packed onto connections of their route (spot: `/stream`; USD-M: `/public/stream` or
  `/market/stream`, never mixed, see `route_for`) up to `streams_per_connection` each.
- Each connection connects with a short URL, then SUBSCRIBEs in batches of at most `MAX_NAMES_PER_MESSAGE`
  names and `MAX_MESSAGE_CHARS` characters, paced by a per-connection token bucket of
  `control_messages_per_s` (burst 1, so no one-second window ever holds more). It counts as subscribed
  only after the ACK.
- The reader only parses and hands events to `sink` (which must not wait except for never-drop
  backpressure), so the library's I/O answers server pings without delay.
- A stream whose type pushes on a schedule (klines, all-market arrays, mark price) that stays silent for
  `stale_after_s` is reported to `on_silent` (its symbol may have been halted or delisted: the owner checks
  its universe and drops it). If every such stream of the connection is silent, or one is still silent and
  still wanted `stale_after_s` after the report, the session ends (`stale`) and `sources.base` reconnects.
- Every connection of the pool takes its connect attempts from one `connect_limiter` (built
  by `TokenBucket.at_most`), so a reconnect storm stays under the exchange's per-IP attempt limit.
- Before `max_connection_age_s`, and when a `serverShutdown` arrives, a connection is replaced make-before-
  break: a new one subscribes the same streams, and only then is the old one closed. Duplicates during the
  overlap are the bar closer's job.
- A frame on a stream the connection neither subscribed nor asked for is dropped before anything is
  remembered about it (`PARSE_ERRORS{kind="unsubscribed_stream"}`, one warning a minute): a hostile or
  broken server's flood of stream names cannot grow the per-stream tables.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Iterable
from enum import StrEnum

import msgspec
import structlog
import websockets
from websockets.asyncio.client import ClientConnection

from cryptoradar.core.backoff import Backoff
from cryptoradar.core.clock import Clock
from cryptoradar.core.logging import LogOncePerKind
from cryptoradar.core.metrics import FRAMES, PARSE_ERRORS
from cryptoradar.core.supervisor import spawn
from cryptoradar.events import ConnectionState, Event, FeedStatus, Market
from cryptoradar.sources.base import (
    ConnectionLost,
    ConnectionStateMachine,
    ReconnectPolicy,
    TokenBucket,
    run_reconnecting,
)
from cryptoradar.sources.binance.parse import FrameParser, StreamType, stream_type_of

__all__ = [
    "ConnectionInfo",
    "EventSink",
    "PoolSettings",
    "PooledConnection",
    "Route",
    "StreamPool",
    "control_batches",
    "route_for",
    "stream_url",
]

log = structlog.get_logger(__name__)

MAX_NAMES_PER_MESSAGE = 350
MAX_MESSAGE_CHARS = 8_000
ACK_TIMEOUT_S = 10.0


class Route(StrEnum):
    SPOT = "spot"
    PUBLIC = "public"
    MARKET = "market"


_FUTURES_PUBLIC_TYPES = frozenset({StreamType.BOOK_TICKER, StreamType.DEPTH, "trade"})
_KNOWN_STREAM_TYPES = frozenset(StreamType)
_SCHEDULED_TYPES = frozenset({StreamType.KLINE, StreamType.MARK_PRICE})
"""Stream types that push on a schedule whatever the trading; silence means a broken stream."""


def route_for(market: Market, stream: str) -> Route:
    """Spot has one route. USD-M: book data on `/public`, everything else on `/market` (sheet §1.2)."""
    if market is Market.SPOT:
        return Route.SPOT
    stream_type, _ = stream_type_of(stream)
    return Route.PUBLIC if stream_type in _FUTURES_PUBLIC_TYPES else Route.MARKET


def stream_url(ws_base_url: str, route: Route) -> str:
    """The short combined-stream URL; streams are added by SUBSCRIBE, never in the query string."""
    base = ws_base_url.rstrip("/")
    return f"{base}/stream" if route is Route.SPOT else f"{base}/{route.value}/stream"


def is_scheduled(stream: str) -> bool:
    stream_type, is_array = stream_type_of(stream)
    return stream_type in _SCHEDULED_TYPES or is_array


def control_batches(names: Iterable[str]) -> list[list[str]]:
    """Split names into SUBSCRIBE batches under both the count and the size cap."""
    batches: list[list[str]] = []
    current: list[str] = []
    size = 0
    for name in sorted(names):
        cost = len(name) + 3
        if current and (len(current) >= MAX_NAMES_PER_MESSAGE or size + cost > MAX_MESSAGE_CHARS - 64):
            batches.append(current)
            current, size = [], 0
        current.append(name)
        size += cost
    if current:
        batches.append(current)
    return batches


class _ControlRequest(msgspec.Struct):
    method: str
    params: list[str]
    id: int


_ENCODE = msgspec.json.Encoder().encode
EventSink = Callable[[list[Event]], Awaitable[None]]


class ConnectionInfo(msgspec.Struct, frozen=True):
    """One connection as the health API shows it."""

    connection_id: str
    route: Route
    state: ConnectionState
    streams: int
    subscribed: int
    age_s: float
    replacing: bool


FrameTap = Callable[[str | bytes, int, Market, str], None]
"""(raw frame, receive ns, market, connection id): sees every frame before parsing (`cryptoradar record`)."""


class PoolSettings(msgspec.Struct, frozen=True):
    market: Market
    ws_url: str
    streams_per_connection: int
    control_messages_per_s: float
    stale_after_s: float
    max_connection_age_s: float
    client_ping_interval_s: float | None = None
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0
    fail_after_attempts: int = 5


class PooledConnection:
    """One WebSocket of the pool: its stream set, subscription state and session."""

    def __init__(
        self,
        pool: StreamPool,
        connection_id: str,
        route: Route,
        streams: Iterable[str] = (),
    ) -> None:
        self.pool = pool
        self.connection_id = connection_id
        self.route = route
        self.desired: set[str] = set(streams)
        self.subscribed: set[str] = set()
        self.machine = ConnectionStateMachine(
            f"binance-{pool.settings.market}",
            connection_id,
            pool.clock,
            pool.publish_status,
            fail_after_attempts=pool.settings.fail_after_attempts,
        )
        self.connected_event = asyncio.Event()
        self.connected_at_s: float | None = None
        self.replacing = False
        self._changed = asyncio.Event()
        self._acks: dict[int, asyncio.Future[bool]] = {}
        self._last_seen_s: dict[str, float] = {}
        self._silent_since_s: dict[str, float] = {}
        """Streams reported to `on_silent`, with when; they get one more `stale_after_s` before a reconnect."""
        self._task: asyncio.Task[None] | None = None

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        settings = self.pool.settings
        policy = ReconnectPolicy(
            Backoff(initial_s=settings.backoff_initial_s, max_s=settings.backoff_max_s),
            self.pool.connect_limiter,
            unreachable_hint="Binance unreachable",
        )
        self._task = spawn(
            run_reconnecting(self.machine, policy, self._session),
            f"ws:{self.connection_id}",
            connection_id=self.connection_id,
        )

    async def stop(self, timeout_s: float = 5.0) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            _, pending = await asyncio.wait([self._task], timeout=timeout_s)
            if pending:
                log.warning("connection_did_not_stop", connection=self.connection_id, timeout_s=timeout_s)
        self.machine.close()

    def add(self, streams: Iterable[str]) -> None:
        self.desired.update(streams)
        self._changed.set()

    def remove(self, streams: Iterable[str]) -> None:
        self.desired.difference_update(streams)
        self._changed.set()

    def info(self, now_s: float) -> ConnectionInfo:
        age = 0.0 if self.connected_at_s is None else now_s - self.connected_at_s
        return ConnectionInfo(
            self.connection_id,
            self.route,
            self.machine.state,
            len(self.desired),
            len(self.subscribed),
            round(age, 3),
            self.replacing,
        )

    # --- one session -------------------------------------------------------------------------------

    async def _session(self, ready: Callable[[], None]) -> None:
        settings = self.pool.settings
        self.subscribed.clear()
        self._silent_since_s.clear()
        self.connected_at_s = None
        self.connected_event.clear()
        url = stream_url(settings.ws_url, self.route)
        async with websockets.connect(
            url,
            ping_interval=settings.client_ping_interval_s,
            ping_timeout=settings.client_ping_interval_s,
            open_timeout=10,
            close_timeout=2,
            max_size=2**23,
            compression=None,
        ) as ws:
            bucket = TokenBucket(settings.control_messages_per_s, burst=1)
            tasks = [asyncio.create_task(self._read(ws), name=f"ws-read:{self.connection_id}")]
            try:
                await self._sync_subscriptions(ws, bucket)
                self.connected_at_s = asyncio.get_running_loop().time()
                ready()
                self.connected_event.set()
                self.pool.on_connected(self)
                tasks.append(asyncio.create_task(self._control_loop(ws, bucket)))
                tasks.append(asyncio.create_task(self._watchdog()))
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()
                raise ConnectionLost("closed")
            finally:
                self.connected_event.clear()
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                for fut in self._acks.values():
                    if fut.done() and not fut.cancelled():
                        fut.exception()  # retrieved: it only said the connection closed
                    fut.cancel()
                self._acks.clear()

    async def _read(self, ws: ClientConnection) -> None:
        parser = self.pool.parser
        clock = self.pool.clock
        sink = self.pool.sink
        loop = asyncio.get_running_loop()
        last_seen = self._last_seen_s
        subscribed, desired = self.subscribed, self.desired
        market = self.pool.settings.market.value
        tap = self.pool.frame_tap
        try:
            async for raw in ws:
                ts_recv_ns = clock.now_ns()
                if tap is not None:
                    tap(raw, ts_recv_ns, self.pool.settings.market, self.connection_id)
                frame = parser.parse(raw, ts_recv_ns)
                stream = frame.stream
                if (
                    stream is not None
                    and stream not in subscribed
                    and stream not in desired
                    and not frame.server_shutdown  # sent on `!serverShutdown` unasked
                ):
                    self.pool.drop_unsubscribed(stream, frame.error_kind is not None)
                    continue
                self.pool.frame_counter(market, frame.stream_type)
                if stream is not None:
                    last_seen[stream] = loop.time()
                if frame.control is not None:
                    fut = (
                        self._acks.pop(frame.control.id, None) if isinstance(frame.control.id, int) else None
                    )
                    if fut is not None and not fut.done():
                        fut.set_result(frame.control.ok)
                    if not frame.control.ok:
                        log.warning(
                            "control_error",
                            connection=self.connection_id,
                            code=frame.control.error_code,
                            msg=frame.control.error_msg,
                        )
                elif frame.server_shutdown:
                    self.pool.request_replacement(self)
                if frame.events:
                    await sink(frame.events)
        except websockets.ConnectionClosed as e:
            raise ConnectionLost(f"closed {e.rcvd.code if e.rcvd else 'abnormal'}") from e
        finally:
            # Whoever waits for an ACK must learn now that none will come.
            for fut in self._acks.values():
                if not fut.done():
                    fut.set_exception(ConnectionLost("closed"))
        raise ConnectionLost("closed")

    async def _sync_subscriptions(self, ws: ClientConnection, bucket: TokenBucket) -> None:
        """Bring `subscribed` in line with `desired`: UNSUBSCRIBE first (frees room), then SUBSCRIBE."""
        self._changed.clear()
        for method, names in (
            ("UNSUBSCRIBE", self.subscribed - self.desired),
            ("SUBSCRIBE", self.desired - self.subscribed),
        ):
            for batch in control_batches(names):
                await bucket.acquire()
                request_id = next(self.pool.request_ids)
                fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
                self._acks[request_id] = fut
                await ws.send(_ENCODE(_ControlRequest(method, batch, request_id)).decode())
                # asyncio.timeout, not wait_for: on 3.11 wait_for swallows a cancel that lands just as
                # the ACK arrives, which left stopped connections running.
                try:
                    async with asyncio.timeout(ACK_TIMEOUT_S):
                        ok = await fut
                except TimeoutError as e:
                    raise ConnectionLost("ack_timeout") from e
                if not ok:
                    raise ConnectionLost(f"{method.lower()}_rejected")
                now_s = asyncio.get_running_loop().time()
                if method == "SUBSCRIBE":
                    self.subscribed.update(batch)
                    for name in batch:
                        self._last_seen_s[name] = now_s
                else:
                    self.subscribed.difference_update(batch)
                    for name in batch:
                        self._last_seen_s.pop(name, None)

    async def _control_loop(self, ws: ClientConnection, bucket: TokenBucket) -> None:
        while True:
            await self._changed.wait()
            await self._sync_subscriptions(ws, bucket)

    async def _watchdog(self) -> None:
        stale_after_s = self.pool.settings.stale_after_s
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(1.0, stale_after_s / 4))
            self._check_silence(loop.time(), stale_after_s)

    def _check_silence(self, now_s: float, stale_after_s: float) -> None:
        """Reports newly silent scheduled streams; raises `ConnectionLost("stale")` when the connection
        itself is silent or a reported stream stayed silent (and wanted) for another `stale_after_s`."""
        scheduled = [n for n in self.subscribed if is_scheduled(n)]
        silent = [n for n in scheduled if now_s - self._last_seen_s.get(n, now_s) > stale_after_s]
        since = self._silent_since_s
        for name in [n for n in since if n not in silent]:
            del since[name]  # it spoke again, or it was unsubscribed
        if not silent:
            return
        fresh = [n for n in silent if n not in since]
        for name in fresh:
            since[name] = now_s
        if fresh:
            self.pool.on_silent(fresh)
        if len(silent) == len(scheduled) or any(now_s - since[n] > stale_after_s for n in silent):
            raise ConnectionLost("stale")


class StreamPool:
    """All connections of one market; see the module docstring."""

    def __init__(
        self,
        settings: PoolSettings,
        *,
        clock: Clock,
        connect_limiter: TokenBucket,
        sink: EventSink,
        publish_status: Callable[[FeedStatus], None],
        on_connected: Callable[[PooledConnection], None] = lambda _c: None,
        on_silent: Callable[[list[str]], None] = lambda _names: None,
        frame_tap: FrameTap | None = None,
    ) -> None:
        """`on_silent(names)` hears of scheduled streams silent for `stale_after_s` on a connection that is
        otherwise alive (or entirely silent); it must not block."""
        self.settings = settings
        self.frame_tap = frame_tap
        self.clock = clock
        self.connect_limiter = connect_limiter
        self.sink = sink
        self.publish_status = publish_status
        self.on_connected = on_connected
        self.on_silent = on_silent
        self.parser = FrameParser(settings.market)
        self.request_ids = itertools.count(1)
        self.connections: list[PooledConnection] = []
        self._owner: dict[str, PooledConnection] = {}
        self._ids = itertools.count(1)
        self._running = False
        self._maintenance: asyncio.Task[None] | None = None
        self._replacements: set[asyncio.Task[None]] = set()
        self._frame_counters: dict[tuple[str, str], Callable[[], None]] = {}
        self._log_limiter = LogOncePerKind()
        self.replacements_done = 0

    def frame_counter(self, market: str, stream_type: str) -> None:
        inc = self._frame_counters.get((market, stream_type))
        if inc is None:
            # The parser passes an unknown event type through as it came: never a metric label (nor a key).
            if stream_type not in _KNOWN_STREAM_TYPES:
                FRAMES.labels(market, StreamType.UNKNOWN).inc()
                return
            inc = FRAMES.labels(market, stream_type).inc
            self._frame_counters[(market, stream_type)] = inc
        inc()

    def drop_unsubscribed(self, stream: str, counted: bool) -> None:
        """A frame on a stream its connection did not subscribe to; `counted`: the parser already counted it
        as bad input."""
        market = self.settings.market.value
        if not counted:
            PARSE_ERRORS.labels(market, "unsubscribed_stream").inc()
        if self._log_limiter.should_log("unsubscribed_stream"):
            log.warning(
                "binance_frame_dropped", market=market, kind="unsubscribed_stream", stream=stream[:100]
            )

    # --- public API --------------------------------------------------------------------------------

    async def start(self) -> None:
        self._running = True
        for conn in self.connections:
            conn.start()
        self._maintenance = asyncio.create_task(self._maintain(), name="ws-pool-maintenance")

    async def stop(self, timeout_s: float = 5.0) -> None:
        self._running = False
        tasks = [t for t in (self._maintenance, *self._replacements) if t is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout_s)
        await asyncio.gather(*(c.stop(timeout_s) for c in self.connections))
        self.connections.clear()

    @property
    def streams(self) -> set[str]:
        return set(self._owner)

    def set_streams(self, wanted: Iterable[str]) -> None:
        """Make the pool carry exactly `wanted`; applied live on running connections."""
        wanted_set = set(wanted)
        removed = set(self._owner) - wanted_set
        by_conn: dict[str, set[str]] = {}
        for name in removed:
            conn = self._owner.pop(name)
            by_conn.setdefault(conn.connection_id, set()).add(name)
        for conn in list(self.connections):
            gone = by_conn.get(conn.connection_id)
            if gone:
                conn.remove(gone)
        added = sorted(wanted_set - set(self._owner))
        cap = self.settings.streams_per_connection
        for route in Route:
            todo = [s for s in added if route_for(self.settings.market, s) is route]
            for conn in self.connections:
                if not todo or conn.route is not route or conn.replacing:
                    continue
                room = cap - len(conn.desired)
                if room > 0:
                    take, todo = todo[:room], todo[room:]
                    self._assign(conn, take)
            while todo:
                take, todo = todo[:cap], todo[cap:]
                conn = self._new_connection(route, ())
                self._assign(conn, take)
        for conn in [c for c in self.connections if not c.desired and not c.replacing]:
            self.connections.remove(conn)
            self._spawn(conn.stop())

    def info(self) -> list[ConnectionInfo]:
        now_s = asyncio.get_running_loop().time()
        return [c.info(now_s) for c in self.connections]

    def request_replacement(self, conn: PooledConnection) -> None:
        """Replace `conn` make-before-break (serverShutdown, age); idempotent."""
        if conn.replacing or not self._running or conn not in self.connections:
            return
        conn.replacing = True
        self._spawn(self._replace(conn))

    # --- internals ---------------------------------------------------------------------------------

    def _assign(self, conn: PooledConnection, names: list[str]) -> None:
        for name in names:
            self._owner[name] = conn
        conn.add(names)

    def _new_connection(self, route: Route, streams: Iterable[str]) -> PooledConnection:
        conn_id = f"{self.settings.market.value}-{route.value}-{next(self._ids)}"
        conn = PooledConnection(self, conn_id, route, streams)
        self.connections.append(conn)
        if self._running:
            conn.start()
        return conn

    def _spawn(self, coro: Awaitable[None]) -> None:
        """Run a replacement or a retirement in the background; `stop()` cancels what is left."""

        async def run() -> None:
            await coro

        task = asyncio.create_task(run())
        self._replacements.add(task)
        task.add_done_callback(self._replacements.discard)

    async def _replace(self, old: PooledConnection) -> None:
        new = self._new_connection(old.route, old.desired)
        for name in new.desired:
            self._owner[name] = new
        log.info("connection_replacing", old=old.connection_id, new=new.connection_id)
        # While the old one still delivers, wait for the new one to be subscribed; if the old one dies
        # first there is nothing left to protect, so close it at once and let the new one catch up.
        while not new.connected_event.is_set() and old.machine.state is ConnectionState.CONNECTED:
            wait_new = asyncio.create_task(new.connected_event.wait())
            await asyncio.wait([wait_new], timeout=0.5)
            wait_new.cancel()
        if old in self.connections:
            self.connections.remove(old)
        await old.stop()
        self.replacements_done += 1

    async def _maintain(self) -> None:
        max_age_s = self.settings.max_connection_age_s
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(1.0, max_age_s / 10))
            now_s = loop.time()
            for conn in list(self.connections):
                started = conn.connected_at_s
                if started is not None and now_s - started >= max_age_s:
                    self.request_replacement(conn)
