"""Acceptance: bootstrap of >= 300 symbols stays within the configured weight budget per minute (the
simulator's own count), a 429 makes the next request wait Retry-After, and a 418 stops all REST and
tells the operator."""

from __future__ import annotations

import asyncio
import time

import pytest
from sim_feed import ALL_SYMBOLS, Collector, sim_config

from conftest import eventually
from cryptoradar.core.errors import RetryableError
from cryptoradar.events import FeedStatus, Market, StatusLevel
from cryptoradar.sim import Fault, FaultKind, SimOptions, Simulator
from cryptoradar.sources.binance.feed import BinanceFeed
from cryptoradar.sources.binance.rest import BinanceRest, RestSettings

BUDGET = 300


async def test_bootstrap_of_300_symbols_stays_within_the_weight_budget() -> None:
    opts = SimOptions(seed=5, symbols=330, acceleration=60.0, intervals=("1m", "5m"), futures_symbols=1)
    async with Simulator(opts) as sim:
        got = Collector()
        spot = {**sim_config(sim).spot.model_dump(), "weight_budget_per_min": BUDGET}
        config = sim_config(sim, spot=spot, spot_intervals=("1m", "5m"), bootstrap_bars=100)
        progress: list[tuple[int, int]] = []
        feed = BinanceFeed(
            config, ALL_SYMBOLS, sim.clock, emit=got, progress=lambda _m, d, t: progress.append((d, t))
        )
        started = time.monotonic()
        await feed.start()
        try:
            await asyncio.wait_for(feed.wait_bootstrapped(), 40)
            assert progress[-1][0] == progress[-1][1]
            bootstrap_s = time.monotonic() - started
            series = progress[-1][1]
            assert series >= 600  # >= 300 symbols x 2 intervals
            assert got.total_closed() >= series * 100
        finally:
            await feed.stop()
        by_minute = sim.stats.spot.rest_weight_by_minute
        assert max(by_minute.values()) <= BUDGET
        assert sim.stats.spot.rest_by_status.get(429, 0) == 0
        print(
            f"\nweight test: bootstrapped {series} series x 100 bars in {bootstrap_s:.2f} s wall "
            f"({len(by_minute)} exchange minutes, peak {max(by_minute.values())}/{BUDGET} weight)"
        )


@pytest.fixture
async def sim_and_rest() -> object:
    opts = SimOptions(seed=9, symbols=20, acceleration=60.0, intervals=("1m",), futures_symbols=1)
    async with Simulator(opts) as sim:
        statuses: list[FeedStatus] = []
        rest = BinanceRest(RestSettings(Market.SPOT, sim.spot_rest_url, 4800), sim.clock, statuses.append)
        async with rest:
            yield sim, rest, statuses


async def test_429_is_honoured_by_the_next_request(
    sim_and_rest: tuple[Simulator, BinanceRest, list[FeedStatus]],
) -> None:
    sim, rest, _ = sim_and_rest
    symbol = sim.symbols[0]
    sim.inject(Fault(kind=FaultKind.REST_ERRORS, market=Market.SPOT, status=429, count=1))
    loop = asyncio.get_running_loop()
    first = asyncio.create_task(rest.klines(symbol, "1m", limit=10))
    await eventually(lambda: sim.stats.spot.rest_by_status.get(429, 0) == 1, 5, "the 429")
    asked_s = loop.time()
    second = await rest.klines(symbol, "1m", limit=10)  # must wait the 1 s Retry-After first
    assert loop.time() - asked_s >= 0.9
    assert second
    assert await first
    assert sim.stats.spot.rest_by_status.get(429, 0) == 1


async def test_418_stops_rest_and_raises_an_operator_status(
    sim_and_rest: tuple[Simulator, BinanceRest, list[FeedStatus]],
) -> None:
    sim, rest, statuses = sim_and_rest
    symbol = sim.symbols[0]
    sim.inject(Fault(kind=FaultKind.REST_ERRORS, market=Market.SPOT, status=418, count=1))
    with pytest.raises(RetryableError):
        await rest.klines(symbol, "1m", limit=10)
    reached = sim.stats.spot.rest_requests
    for _ in range(5):
        with pytest.raises(RetryableError):
            await rest.klines(symbol, "1m", limit=10)
        with pytest.raises(RetryableError):
            await rest.exchange_info()
    assert sim.stats.spot.rest_requests == reached  # nothing reached the server during the ban
    operator = [s for s in statuses if s.level is StatusLevel.OPERATOR]
    assert len(operator) == 1
    assert "418" in operator[0].reason
    await eventually(lambda: rest.banned_until_s < asyncio.get_running_loop().time(), 3, "ban over")
    assert await rest.klines(symbol, "1m", limit=10)
    assert sim.stats.spot.rest_requests == reached + 1
