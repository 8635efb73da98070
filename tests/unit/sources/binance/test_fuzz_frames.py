"""1,000,000 mutated real frames through the pool's frame path (which runs the parser on each).

Frames are the recorded sessions in ../shared/data/ws and simulator payloads, mutated with a fixed seed:
byte flips, truncation, field deletion, type swaps, huge numbers, NaN strings, random stream names and
nested junk; one frame in five goes through unchanged. The connection reads them from an in-memory
source in place of its socket. Nothing may raise, every event that gets out must be plausible, the
stream must go on delivering, and neither the tables keyed by wire data nor the process RSS may grow
past their bounds.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import resource
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from ws_session_frames import parse_errors, session_frames

from cryptoradar.core.clock import SystemClock
from cryptoradar.events import Bar, Event, FeedStatus, Market
from cryptoradar.sim import wire as sim_wire
from cryptoradar.sources.base import ConnectionLost, TokenBucket
from cryptoradar.sources.binance import parse
from cryptoradar.sources.binance.pool import PooledConnection, PoolSettings, Route, StreamPool

pytestmark = pytest.mark.slow

FRAMES_PER_MARKET = 500_000
SEED = 1409
RSS_GROWTH_MAX_BYTES = 48 * 2**20
"""Before the bounds, the junk stream names alone grew the caches by hundreds of MB over this run."""
T0_MS = 1_767_225_600_000
_SYMBOL = re.compile(r"[^\Wa-z]{1,64}").fullmatch
_JUNK_CHARS = 'abcxyz0189@!_-<>*[]()/\n\t"\\é币 '
_SWAPS: list[Any] = [None, True, False, "", "x", 0, -1, 1.5, [], {}, [1, "a"], {"k": None}]
_HUGE: list[Any] = [10**30, -(10**30), 1e308, "1e400", "-1e400", 2**63, -(2**63) - 1, "99999999999999999999"]
_NAN: list[Any] = ["NaN", "nan", "Infinity", "-Infinity", "inf", "-inf", "1e-400"]


def _rss_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize()


def _sim_frames(market: Market) -> list[str]:
    """Simulator payloads in Binance's combined-stream shape."""
    payloads: list[tuple[str, dict[str, Any]]] = [
        ("btcusdt@bookTicker", sim_wire.book_ticker(market, "BTCUSDT", 7, "87412.0", "1.2", "87412.01", "0.4", T0_MS)),
        ("!miniTicker@arr", [sim_wire.mini_ticker("ETHUSDT", "2968.4", "2900", "3000", "2890", "10", "29684", T0_MS)]),  # type: ignore[list-item]
    ]  # fmt: skip
    if market is Market.USDM:
        payloads += [
            ("btcusdt@markPrice@1s", sim_wire.mark_price("BTCUSDT", "87430.12", "87418.37", "0.0001", T0_MS, T0_MS)),
            ("!forceOrder@arr", sim_wire.force_order("ETHUSDT", "SELL", "12.5", "2968.41", "2975.02", T0_MS, T0_MS)),
        ]  # fmt: skip
    return [sim_wire.encode({"stream": stream, "data": data}) for stream, data in payloads]


def _junk(r: random.Random, depth: int) -> Any:
    if depth <= 0:
        return r.choice(_SWAPS + _NAN)
    return [_junk(r, depth - 1)] if r.random() < 0.5 else {"j": _junk(r, depth - 1)}


def _random_name(r: random.Random) -> str:
    return "".join(r.choices(_JUNK_CHARS, k=r.choice((1, 8, 30, 200, 4096))))


def _containers(obj: Any) -> list[Any]:
    """Every dict and list inside `obj`, itself included."""
    out = [obj]
    for child in obj.values() if isinstance(obj, dict) else obj if isinstance(obj, list) else ():
        if isinstance(child, dict | list):
            out.extend(_containers(child))
    return out


def _mutate_structure(r: random.Random, raw: str) -> str:
    obj = json.loads(raw)
    op = r.randrange(6)
    if op == 0 and isinstance(obj, dict):
        obj["stream"] = _random_name(r)
        return json.dumps(obj, separators=(",", ":"))
    target = r.choice(_containers(obj))
    if not target:
        return json.dumps(_junk(r, 3))
    key: Any = r.choice(list(target)) if isinstance(target, dict) else r.randrange(len(target))
    if op == 1:
        del target[key]
    elif op == 2:
        target[key] = r.choice(_SWAPS)
    elif op == 3:
        target[key] = r.choice(_HUGE)
    elif op == 4:
        target[key] = r.choice(_NAN)
    else:
        target[key] = _junk(r, r.randint(1, 60))
    return json.dumps(target if r.random() < 0.02 else obj, separators=(",", ":"))


def mutated(base: list[str], n: int, seed: int) -> Iterator[str | bytes]:
    r = random.Random(seed)
    for i in range(n):
        raw = base[i % len(base)] if i % 5 == 0 else r.choice(base)
        kind = i % 5
        if kind == 0:
            yield raw
        elif kind == 1:
            flipped = bytearray(raw.encode())
            for _ in range(r.randint(1, 4)):
                flipped[r.randrange(len(flipped))] = r.randrange(256)
            yield bytes(flipped)
        elif kind == 2:
            yield raw[: r.randrange(len(raw))]
        else:
            yield _mutate_structure(r, raw)


class _FrameSource:
    """What `PooledConnection._read` iterates in place of a socket: the frames, then the end."""

    def __init__(self, frames: Iterator[str | bytes]) -> None:
        self._frames = frames

    async def __aiter__(self) -> AsyncIterator[str | bytes]:
        for i, raw in enumerate(self._frames):
            if i % 4096 == 0:
                await asyncio.sleep(0)
            yield raw


class _Checked:
    """The pool's sink: checks that every event that gets out is plausible."""

    def __init__(self) -> None:
        self.events = 0

    async def sink(self, events: list[Event]) -> None:
        for event in events:
            assert _SYMBOL(event.symbol), event
            assert event.ts_event_ns > 0, event
            if isinstance(event, Bar):  # open and close are checked on the final push only
                assert event.low <= event.high, event
                if event.closed:
                    assert (
                        event.low
                        <= min(event.open, event.close)
                        <= max(event.open, event.close)
                        <= event.high
                    )
        self.events += len(events)


async def _read_all(market: Market, base: list[str], checked: _Checked) -> PooledConnection:
    settings = PoolSettings(market, "ws://127.0.0.1:9", 1024, 5.0, 60.0, 3600.0)
    statuses: list[FeedStatus] = []
    pool = StreamPool(
        settings, clock=SystemClock(), connect_limiter=TokenBucket(1, 1), sink=checked.sink,
        publish_status=statuses.append,
    )  # fmt: skip
    streams = {json.loads(raw)["stream"] for raw in base}
    conn = PooledConnection(pool, f"fuzz-{market.value}", Route.SPOT, streams)
    with pytest.raises(ConnectionLost):
        await conn._read(_FrameSource(mutated(base, FRAMES_PER_MARKET, SEED)))  # type: ignore[arg-type]
    assert set(conn._last_seen_s) <= streams
    assert len(pool._frame_counters) <= len(parse.StreamType)
    assert len(parse._known_symbols) <= parse.KNOWN_SYMBOLS_MAX
    return conn


async def test_a_million_mutated_frames_leave_memory_bounded_and_the_stream_going() -> None:
    bases = {
        Market.SPOT: [raw for _, raw in session_frames("spot-session-1.txt")] + _sim_frames(Market.SPOT),
        Market.USDM: [raw for _, raw in session_frames("usdm-session-1.txt")] + _sim_frames(Market.USDM),
    }
    # Warm up allocator arenas and module state on a short run, then measure the full one.
    warm = _Checked()
    await _read_all(Market.SPOT, bases[Market.SPOT][:50], warm)
    rss_before = _rss_bytes()
    errors_before = {m: parse_errors(m.value) for m in bases}
    for market, base in bases.items():
        checked = _Checked()
        await _read_all(market, base, checked)
        # A fifth of the frames are unchanged; most of them carry an event.
        assert checked.events >= FRAMES_PER_MARKET // 10, (market, checked.events)
        # Most mutated frames are rejected and counted (the rest are still well-formed and plausible).
        assert parse_errors(market.value) - errors_before[market] >= FRAMES_PER_MARKET // 2
    assert parse_errors("spot", "unsubscribed_stream") > 0
    info = parse._lru_stream_type_of.cache_info()
    assert info.currsize <= parse.STREAM_NAME_CACHE_MAX
    growth = _rss_bytes() - rss_before
    assert growth <= RSS_GROWTH_MAX_BYTES, f"RSS grew by {growth / 2**20:.1f} MiB"
    print(f"\nfuzz: {2 * FRAMES_PER_MARKET} mutated frames, RSS grew {growth / 2**20:.1f} MiB")
