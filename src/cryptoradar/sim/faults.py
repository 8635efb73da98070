"""Applies a `Fault` to one market's WebSocket hub and REST gate; every application is counted."""

from __future__ import annotations

import math
import random
import string
import time

from aiohttp import WSCloseCode

from cryptoradar.events import Market
from cryptoradar.sim import wire
from cryptoradar.sim.options import Fault, FaultKind
from cryptoradar.sim.rest import RestGate
from cryptoradar.sim.ws import Connection, WsHub


def apply_fault(fault: Fault, hub: WsHub, gate: RestGate, rng: random.Random, now_ms: int) -> None:
    """Injects `fault` into this market (the caller has already matched `fault.market`)."""
    hub.stats.count_fault(fault.kind.value)
    if fault.kind is FaultKind.REST_ERRORS:
        gate.forced.extend([(fault.status, fault.retry_after)] * fault.count)
        return
    if fault.kind is FaultKind.BROKEN_EXCHANGE_INFO:
        gate.broken_exchange_info += fault.count
        return
    if fault.kind is FaultKind.JUNK_STREAMS:
        hub.send_all_raw(lambda conn: junk_stream_frames(conn, fault.count, rng, now_ms), fault.fraction, rng)
        return
    if fault.kind is FaultKind.FOREIGN_KLINES:
        hub.send_all_raw(lambda conn: foreign_klines(conn, fault.count, rng, now_ms), fault.fraction, rng)
        return
    if fault.kind is FaultKind.HUGE_FRAME:
        hub.send_all_raw(lambda conn: [huge_frame(conn)], fault.fraction, rng)
        return
    if fault.kind is FaultKind.SERVER_SHUTDOWN:
        if fault.market is None and hub.market is not Market.SPOT:
            return  # documented on spot only; futures gets it when asked for explicitly
        hub.send_all_raw(lambda conn: [_shutdown_frame(conn, now_ms)], fault.fraction, rng)
        return
    if fault.kind is FaultKind.MALFORMED_FRAMES:
        hub.send_all_raw(lambda conn: malformed_frames(conn, fault.count, now_ms), fault.fraction, rng)
        return
    until = math.inf if fault.duration_wall_s is None else time.monotonic() + fault.duration_wall_s
    for conn in hub.pick(fault.fraction, rng):
        if fault.kind is FaultKind.DROP_CONNECTIONS:
            hub.drop(conn)
        elif fault.kind is FaultKind.POLICY_CLOSE:
            hub._close_soon(conn, WSCloseCode.POLICY_VIOLATION, "Policy violation", "fault")
        elif fault.kind is FaultKind.STALL and fault.stream is not None:
            conn.stalled_streams[fault.stream] = until
        elif fault.kind is FaultKind.STALL:
            conn.stalled_until_wall = until
        elif fault.kind is FaultKind.DUPLICATE_FRAMES:
            conn.duplicates_left += fault.count
        elif fault.kind is FaultKind.OUT_OF_ORDER:
            conn.reorders_left += fault.count


def _shutdown_frame(conn: Connection, now_ms: int) -> str:
    return conn.frame("!serverShutdown", wire.encode(wire.server_shutdown(now_ms)))


def malformed_frames(conn: Connection, count: int, now_ms: int) -> list[str]:
    """`count` bad frames cycling through: broken JSON, missing fields, NaN, negative numbers, unknown stream."""
    stream = next(iter(conn.subs), "btcusdt@kline_1m")
    kline = wire.kline_event(Market.SPOT, "BTCUSDT", "1m", 60_000,
                             (now_ms // 60_000 * 60_000, "1", "2", "0.5", "1.5", "10", "15", 3, "5", "7.5"), 1, False, now_ms)  # fmt: skip
    nan = {**kline, "k": {**kline["k"], "c": "NaN", "h": "nan"}}
    negative = {**kline, "k": {**kline["k"], "o": "-1.0", "v": "-10"}}
    missing = {"e": "kline", "E": now_ms, "s": "BTCUSDT"}
    kinds = [
        '{"e":"kline","E":' + str(now_ms) + ',"s":"BTC',
        conn.frame(stream, wire.encode(missing)),
        conn.frame(stream, wire.encode(nan)),
        conn.frame(stream, wire.encode(negative)),
        conn.frame("nosuch@stream", wire.encode({"e": "mystery", "E": now_ms})),
    ]
    return [kinds[i % len(kinds)] for i in range(count)]


HUGE_FRAME_BYTES = 10 * 2**20


def huge_frame(conn: Connection) -> str:
    """A 10 MB frame on one of the connection's streams (a client limits frames to less)."""
    stream = next(iter(conn.subs), "btcusdt@kline_1m")
    return conn.frame(stream, '{"e":"kline","pad":"' + "x" * HUGE_FRAME_BYTES + '"}')


_NAME_CHARS = string.ascii_letters + string.digits + "@!_-<>*[]()"


def junk_stream_frames(conn: Connection, count: int, rng: random.Random, now_ms: int) -> list[str]:
    """`count` well-formed aggTrades, each on a fresh random stream name of 8 to 1,000 characters."""
    frames: list[str] = []
    for i in range(count):
        name = "".join(rng.choices(_NAME_CHARS, k=rng.randint(8, 1000)))
        trade = wire.agg_trade(Market.SPOT, "JUNKUSDT", i, "1.5", "2", i, now_ms, False, now_ms)
        frames.append(conn.frame(name, wire.encode(trade)))
    return frames


def foreign_klines(conn: Connection, count: int, rng: random.Random, now_ms: int) -> list[str]:
    """`count` final klines on one of the connection's kline streams, each of a fresh random symbol."""
    stream = next((s for s in conn.subs if "@kline_" in s), "btcusdt@kline_1m")
    open_ms = now_ms // 60_000 * 60_000 - 60_000
    frames: list[str] = []
    for _ in range(count):
        symbol = "".join(rng.choices(string.ascii_uppercase, k=12)) + "USDT"
        row = (open_ms, "1", "2", "0.5", "1.5", "10", "15", 3, "5", "7.5")
        kline = wire.kline_event(Market.SPOT, symbol, "1m", 60_000, row, 1, True, now_ms)
        frames.append(conn.frame(stream, wire.encode(kline)))
    return frames
