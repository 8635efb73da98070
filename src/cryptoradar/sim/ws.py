"""The WebSocket side of one simulated market (aiohttp): connections, control protocol, limits, keep-alive.

Served on the market's aiohttp app (same port as its REST API). Behaviour copied from Binance:
- `/ws/<s1>/<s2>` raw payloads, `/stream?streams=a/b` wrapped `{"stream","data"}`; SET_PROPERTY combined.
- SUBSCRIBE/UNSUBSCRIBE/LIST_SUBSCRIPTIONS/SET_PROPERTY/GET_PROPERTY with the documented replies and
  error codes 0-3; going over the stream cap gets `{"error":{"code":4,...}}` and a 1008 close.
- More incoming messages per wall second than the limit (text frames; on spot also PING/PONG) -> 1008.
- Server pings on a wall-clock interval with a payload; only a pong echoing an outstanding payload keeps the
  connection alive; no such pong within the timeout -> close. Connections close at their max age.
- More connection attempts from one IP than the limit inside the sliding wall-clock window -> the handshake
  is refused with HTTP 429 (Binance does not document its answer; a refusal is what a client must survive).
  Every attempt counts, refused ones too, so a client that keeps hammering stays refused.
Every enforcement is counted in `MarketStats`.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from collections import deque
from collections.abc import Callable, Container
from dataclasses import dataclass, field

import msgspec
from aiohttp import WSCloseCode, WSMsgType, web

from cryptoradar.events import Market
from cryptoradar.sim import wire
from cryptoradar.sim.stats import MarketStats
from cryptoradar.sim.streams import Route, StreamKey, delivers, parse_stream

_METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")
_QUEUE_FRAMES = 20_000


@dataclass(frozen=True, slots=True)
class WsLimits:
    stream_cap: int
    design_cap: int
    control_rate_per_s: int
    pings_count: bool
    ping_interval_wall_s: float
    pong_timeout_wall_s: float
    max_age_wall_s: float
    connect_attempts: int
    connect_window_wall_s: float


@dataclass(frozen=True, slots=True)
class _CloseAfterQueue:
    code: int
    message: str
    reason: str


@dataclass(eq=False, slots=True)
class Connection:
    ws: web.WebSocketResponse
    route: Route
    combined: bool
    opened_wall: float
    transport: asyncio.Transport | None
    subs: dict[str, StreamKey | None] = field(default_factory=dict)
    queue: asyncio.Queue[str | _CloseAfterQueue] = field(default_factory=lambda: asyncio.Queue(_QUEUE_FRAMES))
    incoming_wall: deque[float] = field(default_factory=deque)
    outstanding_pings: dict[bytes, float] = field(default_factory=dict)
    next_ping_wall: float = 0.0
    stalled_until_wall: float = 0.0
    stalled_streams: dict[str, float] = field(default_factory=dict)
    duplicates_left: int = 0
    reorders_left: int = 0
    last_frame: dict[str, str] = field(default_factory=dict)
    closing: bool = False

    def frame(self, stream: str, payload: str) -> str:
        return f'{{"stream":"{stream}","data":{payload}}}' if self.combined else payload


class WsHub:
    """All connections of one market, the delivery index and the enforcement loop."""

    def __init__(self, market: Market, symbols: Container[str], limits: WsLimits, stats: MarketStats,
                 now_ms: Callable[[], int]) -> None:  # fmt: skip
        """`symbols` is the market's live set of listed names (it changes as symbols are listed)."""
        self.market = market
        self._symbols = symbols
        self.limits = limits
        self.stats = stats
        self._now_ms = now_ms
        self.connections: set[Connection] = set()
        self._index: dict[str, set[Connection]] = {}
        self._keys: dict[str, StreamKey] = {}
        self._attempts_wall: dict[str, deque[float]] = {}

    # -- delivery ---------------------------------------------------------------------------------------

    def wanted(self, stream: str) -> bool:
        return bool(self._index.get(stream))

    def wanted_keys(self) -> list[tuple[str, StreamKey]]:
        """(name, parsed key) of every stream at least one connection receives."""
        return [(s, self._keys[s]) for s, conns in self._index.items() if conns]

    def publish(self, stream: str, payload: object) -> None:
        conns = self._index.get(stream)
        if not conns:
            return
        text = wire.encode(payload)
        now = time.monotonic()
        for conn in list(conns):
            self._deliver(conn, stream, text, now)

    def _deliver(self, conn: Connection, stream: str, text: str, now: float) -> None:
        if conn.stalled_until_wall > now or conn.stalled_streams.get(stream, 0.0) > now:
            return
        frame = conn.frame(stream, text)
        self._enqueue(conn, frame)
        if conn.duplicates_left > 0:
            conn.duplicates_left -= 1
            self._enqueue(conn, frame)
        older = conn.last_frame.get(stream)
        if conn.reorders_left > 0 and older is not None:
            conn.reorders_left -= 1
            self._enqueue(conn, older)
        conn.last_frame[stream] = frame

    def _enqueue(self, conn: Connection, frame: str | _CloseAfterQueue) -> None:
        try:
            conn.queue.put_nowait(frame)
        except asyncio.QueueFull:
            self._close_soon(conn, WSCloseCode.POLICY_VIOLATION, "slow consumer", "slow_consumer")

    def send_all_raw(
        self, frames: Callable[[Connection], list[str]], fraction: float, rng: random.Random
    ) -> int:
        """Enqueue `frames(conn)` on a `fraction` of connections; returns how many connections got them."""
        hit = 0
        for conn in list(self.connections):
            if rng.random() < fraction:
                for f in frames(conn):
                    self._enqueue(conn, f)
                hit += 1
        return hit

    def pick(self, fraction: float, rng: random.Random) -> list[Connection]:
        return [c for c in list(self.connections) if rng.random() < fraction]

    # -- connection lifecycle ---------------------------------------------------------------------------

    def _admit(self, remote: str) -> bool:
        """Counts a connection attempt from `remote`; False (and a violation) when it is over the limit."""
        now = time.monotonic()
        attempts = self._attempts_wall.setdefault(remote, deque())
        attempts.append(now)
        while attempts[0] <= now - self.limits.connect_window_wall_s:
            attempts.popleft()
        self.stats.connect_attempts += 1
        self.stats.connect_attempts_peak = max(self.stats.connect_attempts_peak, len(attempts))
        if len(attempts) <= self.limits.connect_attempts:
            return True
        self.stats.violations["connect_attempts"] += 1
        return False

    async def handle(
        self, request: web.Request, route: Route, combined: bool, initial: list[str]
    ) -> web.StreamResponse:
        if not self._admit(request.remote or ""):
            return web.Response(
                status=429,
                body=wire.api_error(-1003, "Too many connection attempts."),
                content_type="application/json",
            )
        ws = web.WebSocketResponse(autoping=False, max_msg_size=1 << 20)
        await ws.prepare(request)
        now = time.monotonic()
        conn = Connection(
            ws, route, combined, now, request.transport, next_ping_wall=now + self.limits.ping_interval_wall_s
        )
        self.connections.add(conn)
        self.stats.connections_opened += 1
        self.stats.connections_open += 1
        writer = asyncio.create_task(self._write(conn), name="sim-ws-writer")
        try:
            if self._add_streams(conn, initial, None, reply=False):
                await self._read(conn)
            else:
                await asyncio.wait_for(asyncio.shield(writer), timeout=5.0)
        finally:
            self._forget(conn)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            if not ws.closed:
                await ws.close()
        return ws

    async def _write(self, conn: Connection) -> None:
        while True:
            frame = await conn.queue.get()
            if isinstance(frame, _CloseAfterQueue):
                await self._close(conn, frame.code, frame.message, frame.reason)
                return
            try:
                await conn.ws.send_str(frame)
            except (ConnectionError, RuntimeError):
                return
            self.stats.frames_sent += 1

    async def _read(self, conn: Connection) -> None:
        async for msg in conn.ws:
            counted = msg.type is WSMsgType.TEXT or (
                self.limits.pings_count and msg.type in (WSMsgType.PING, WSMsgType.PONG)
            )
            if counted and self._over_rate(conn):
                self.stats.violations["control_rate"] += 1
                await self._close(conn, WSCloseCode.POLICY_VIOLATION, "Too many requests", "control_rate")
                return
            if msg.type is WSMsgType.PING:
                await conn.ws.pong(msg.data)
            elif msg.type is WSMsgType.PONG:
                sent = conn.outstanding_pings.get(bytes(msg.data))
                if sent is not None:
                    conn.outstanding_pings = {p: t for p, t in conn.outstanding_pings.items() if t > sent}
            elif msg.type is WSMsgType.TEXT:
                self.stats.control_messages += 1
                self._control(conn, msg.data)  # a violation makes the writer close after its reply

    def _over_rate(self, conn: Connection) -> bool:
        now = time.monotonic()
        conn.incoming_wall.append(now)
        while conn.incoming_wall and conn.incoming_wall[0] <= now - 1.0:
            conn.incoming_wall.popleft()
        return len(conn.incoming_wall) > self.limits.control_rate_per_s

    def _forget(self, conn: Connection) -> None:
        if conn not in self.connections:
            return
        self.connections.discard(conn)
        for name in conn.subs:
            self._index.get(name, set()).discard(conn)
        self.stats.subscriptions -= len(conn.subs)
        self.stats.connections_open -= 1

    async def _close(self, conn: Connection, code: int, message: str, reason: str) -> None:
        if conn.closing:
            return
        conn.closing = True
        self.stats.count_close(reason)
        self._forget(conn)
        with contextlib.suppress(ConnectionError, RuntimeError):
            await conn.ws.close(code=code, message=message.encode())

    def _close_soon(self, conn: Connection, code: int, message: str, reason: str) -> None:
        asyncio.get_running_loop().create_task(self._close(conn, code, message, reason))

    def drop(self, conn: Connection) -> None:
        """Abrupt close (fault): no close handshake, like a dropped TCP connection."""
        conn.closing = True
        self.stats.count_close("fault")
        self._forget(conn)
        if conn.transport is not None:
            conn.transport.abort()

    async def close_all(self) -> None:
        for conn in list(self.connections):
            await self._close(conn, WSCloseCode.GOING_AWAY, "server stopping", "stop")

    # -- control protocol -------------------------------------------------------------------------------

    def _control(self, conn: Connection, text: str) -> bool:
        """Handles one control message; False when the connection was closed because of it."""
        try:
            request = msgspec.json.decode(text)
        except msgspec.DecodeError as e:
            self._enqueue(conn, wire.control_error(None, 3, f"Invalid JSON: {e}"))
            return True
        if not isinstance(request, dict) or "method" not in request:
            self._enqueue(conn, wire.control_error(None, 2, "Invalid request: missing field `method`"))
            return True
        rid = request.get("id")
        if not _valid_id(rid, self.market):
            self._enqueue(
                conn, wire.control_error(None, 2, "Invalid request: request ID must be an unsigned integer")
            )
            return True
        method, params = request["method"], request.get("params", [])
        if method not in _METHODS:
            expected = ", ".join(f"`{m}`" for m in _METHODS)
            self._enqueue(
                conn,
                wire.control_error(
                    rid, 2, f"Invalid request: unknown variant `{method}`, expected one of {expected}"
                ),
            )
            return True
        if not isinstance(params, list):
            self._enqueue(
                conn, wire.control_error(rid, 2, "Invalid request: invalid type: expected a sequence")
            )
            return True
        if method == "SUBSCRIBE":
            self.stats.subscribe_requests += 1
            if not all(isinstance(p, str) for p in params):
                self._enqueue(
                    conn, wire.control_error(rid, 2, "Invalid request: invalid type: expected a string")
                )
                return True
            return self._add_streams(conn, params, rid, reply=True)
        self._enqueue(conn, self._answer(conn, method, params, rid))
        return True

    def _answer(self, conn: Connection, method: str, params: list[object], rid: object) -> str:
        if method == "UNSUBSCRIBE":
            for name in params:
                if isinstance(name, str) and name in conn.subs:
                    del conn.subs[name]
                    self._index.get(name, set()).discard(conn)
                    self.stats.subscriptions -= 1
            return wire.control_result(rid, None)
        if method == "LIST_SUBSCRIPTIONS":
            return wire.control_result(rid, list(conn.subs))
        if method == "GET_PROPERTY":
            if len(params) != 1:
                return wire.control_error(rid, 2, "Invalid request: too many parameters")
            if not isinstance(params[0], str):
                return wire.control_error(rid, 2, "Invalid request: property name must be a string")
            if params[0] != "combined":
                return wire.control_error(rid, 0, "Unknown property")
            return wire.control_result(rid, conn.combined)
        if len(params) != 2:
            return wire.control_error(rid, 2, "Invalid request: too many parameters")
        name, value = params
        if not isinstance(name, str):
            return wire.control_error(rid, 2, "Invalid request: property name must be a string")
        if name != "combined":
            return wire.control_error(rid, 0, "Unknown property")
        if not isinstance(value, bool):
            return wire.control_error(rid, 1, "Invalid value type: expected Boolean")
        conn.combined = value
        return wire.control_result(rid, None)

    def _add_streams(self, conn: Connection, names: list[str], rid: object, reply: bool) -> bool:
        fresh = [n for n in dict.fromkeys(names) if n not in conn.subs]
        total = len(conn.subs) + len(fresh)
        if total > self.limits.stream_cap:
            self.stats.violations["stream_cap"] += 1
            self._enqueue(conn, wire.control_error(rid, 4, "Too many subscriptions"))
            self._enqueue(
                conn, _CloseAfterQueue(WSCloseCode.POLICY_VIOLATION, "Too many subscriptions", "stream_cap")
            )
            return False
        if total > self.limits.design_cap >= len(conn.subs):
            self.stats.connections_over_design_cap += 1
        self.stats.max_streams_per_connection = max(self.stats.max_streams_per_connection, total)
        for name in fresh:
            key = parse_stream(name, self.market, self._symbols)
            conn.subs[name] = key
            self.stats.subscriptions += 1
            if key is None:
                self.stats.unknown_streams += 1
            elif delivers(conn.route, key):
                self._index.setdefault(name, set()).add(conn)
                self._keys[name] = key
            else:
                self.stats.misrouted += 1
        if reply:
            self._enqueue(conn, wire.control_result(rid, None))
        return True

    # -- keep-alive -------------------------------------------------------------------------------------

    async def keepalive(self) -> None:
        """Pings, pong deadlines and max age, checked a few times per ping interval."""
        period = max(
            0.02, min(1.0, self.limits.ping_interval_wall_s / 4, self.limits.pong_timeout_wall_s / 4)
        )
        while True:
            await asyncio.sleep(period)
            now = time.monotonic()
            for conn in list(self.connections):
                oldest = min(conn.outstanding_pings.values(), default=math.inf)
                if now - oldest > self.limits.pong_timeout_wall_s:
                    self.stats.violations["pong_timeout"] += 1
                    await self._close(conn, WSCloseCode.POLICY_VIOLATION, "Pong timeout", "pong_timeout")
                elif now - conn.opened_wall > self.limits.max_age_wall_s:
                    await self._close(conn, WSCloseCode.GOING_AWAY, "Max connection age", "max_age")
                elif now >= conn.next_ping_wall and not conn.closing:
                    payload = str(self._now_ms()).encode()
                    conn.outstanding_pings.setdefault(payload, now)
                    conn.next_ping_wall = now + self.limits.ping_interval_wall_s
                    self.stats.pings_sent += 1
                    with contextlib.suppress(ConnectionError, RuntimeError):
                        await conn.ws.ping(payload)


def _valid_id(rid: object, market: Market) -> bool:
    if rid is None:
        return True
    if isinstance(rid, bool):
        return False
    if isinstance(rid, int):
        return rid >= 0 if market is Market.USDM else -(2**63) <= rid < 2**63
    return market is Market.SPOT and isinstance(rid, str) and len(rid) <= 36 and rid.isalnum()
