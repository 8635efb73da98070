"""REST klines into the candle cache against the simulator over real sockets on 127.0.0.1.

A fetch of several symbols is cancelled midway and run again: the cache then holds exactly the
simulator's ground-truth klines, the second run fetched only what was missing, and the simulator's own
per-minute weight count never went over the client's budget (which was small enough to make it wait).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path

import pytest

from conftest import eventually
from cryptoradar.backtest.candles import CandleCache
from cryptoradar.backtest.fetch import FetchProgress, FetchRequest, fetch_candles
from cryptoradar.events import Bar, Market
from cryptoradar.sim import SimOptions, Simulator
from cryptoradar.sources.binance.rest import BinanceRest, RestSettings

sys.path.insert(0, str(Path(__file__).parent / "binance"))

CLI = Path(sys.executable).with_name("cryptoradar")
MINUTE_MS = 60_000
HISTORY_BARS = 2_500  # three pages a symbol: 1000, 1000, 500
BUDGET = 8
"""Spot klines weigh 2: four requests per exchange minute, so nine pages need the gate to wait."""


def _truth(sim: Simulator, symbol: str, to_ms: int) -> list[tuple[float, ...]]:
    return [
        (int(r[0]), *map(float, r[1:7]), int(r[7]), float(r[8]), float(r[9]))
        for r in sim.closed_bars(symbol, "1m")
        if int(r[0]) < to_ms
    ]


def _stored(bars: list[Bar]) -> list[tuple[float, ...]]:
    return [
        (b.open_time_ms, b.open, b.high, b.low, b.close, b.volume, b.quote_volume, b.trades,
         b.taker_buy_volume, b.taker_buy_quote_volume)
        for b in bars
    ]  # fmt: skip


@pytest.fixture
async def sim() -> object:
    opts = SimOptions(seed=21, symbols=8, acceleration=60.0, intervals=("1m",), futures_symbols=1,
                      history_bars=HISTORY_BARS)  # fmt: skip
    async with Simulator(opts) as s:
        yield s


async def test_a_cancelled_fetch_resumes_to_exactly_the_simulators_klines_within_the_budget(
    sim: Simulator, tmp_path: Path
) -> None:
    symbols = tuple(sim.symbols[:3])
    from_ms = sim.start_ms - HISTORY_BARS * MINUTE_MS
    request = FetchRequest(Market.SPOT, symbols, "1m", from_ms, sim.start_ms)
    cache = CandleCache(tmp_path / "cache")
    seen: list[FetchProgress] = []
    async with BinanceRest(RestSettings(Market.SPOT, sim.spot_rest_url, BUDGET), sim.clock) as rest:
        first = asyncio.create_task(fetch_candles(rest, cache, request, seen.append))
        await eventually(lambda: len(seen) >= 4, 30, "four pages stored")
        first.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await first
        stored_before = sum(len(cache.read(Market.SPOT, s, "1m")) for s in symbols)
        assert 4 <= seen[-1].pages_done < 9
        assert stored_before == seen[-1].bars_written

        summary = await fetch_candles(rest, cache, request)

    assert sum(summary.bars_written.values()) == 3 * HISTORY_BARS - stored_before
    assert summary.requests == 9 - seen[-1].pages_done
    for symbol in symbols:
        assert _stored(cache.read(Market.SPOT, symbol, "1m")) == _truth(sim, symbol, sim.start_ms)
    by_minute = sim.stats.spot.rest_weight_by_minute
    assert max(by_minute.values()) <= BUDGET
    assert len(by_minute) >= 3  # 9 pages x 2 weight at 8 a minute: the gate made it wait
    assert sim.stats.spot.rest_by_status.get(429, 0) == 0


async def test_the_backtest_cli_fetches_then_backtests_the_cache(sim: Simulator, tmp_path: Path) -> None:
    symbol = sim.symbols[0]
    day = sim.start_ms // 86_400_000 * 86_400_000
    args = ["backtest", "--fetch", "--cache", str(tmp_path / "cache"), "--rest-url", sim.spot_rest_url,
            "--symbols", symbol, "--timeframes", "1m", "--from", _iso(day - 86_400_000), "--to", _iso(day),
            "--out", str(tmp_path / "report")]  # fmt: skip
    # The real command in its own process; the simulator keeps serving on this event loop meanwhile.
    proc = await asyncio.create_subprocess_exec(
        CLI, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, output.decode()
    stored = CandleCache(tmp_path / "cache").read(Market.SPOT, symbol, "1m")
    assert _stored(stored) == [t for t in _truth(sim, symbol, day) if t[0] >= day - 86_400_000]
    assert len(stored) == 1_440
    assert (tmp_path / "report" / "report.html").exists()


def _iso(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d")
