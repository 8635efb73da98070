"""BinanceFeed end to end: USD-M routes against the simulator, and life without an exchange."""

from __future__ import annotations

import asyncio

from sim_feed import Collector, sim_config, truth_opens

from conftest import eventually
from cryptoradar.config.binance import BinanceConfig, MarketEndpoints, UniverseConfig
from cryptoradar.core.clock import SystemClock
from cryptoradar.events import (
    BookTicker,
    Event,
    FeedStatus,
    Liquidation,
    Market,
    MarkPrice,
    StatusLevel,
    Trade,
)
from cryptoradar.sim import SimOptions, Simulator
from cryptoradar.sources.binance.feed import BinanceFeed
from cryptoradar.sources.binance.pool import Route, route_for


async def test_futures_streams_use_their_routes_and_bars_arrive_once() -> None:
    opts = SimOptions(seed=4, symbols=20, acceleration=60.0, intervals=("1m",), futures_symbols=30)
    async with Simulator(opts) as sim:
        got = Collector()
        kinds: set[type] = set()

        def emit(event: Event) -> None:
            kinds.add(type(event))
            got(event)

        # bookTicker lives on /public, everything else on /market: the feed needs both kinds of connection.
        streams = ("aggTrade", "markPrice@1s", "bookTicker")
        config = sim_config(sim, futures_intervals=("1m",), futures_symbol_streams=streams)
        universe = UniverseConfig(min_avg_hourly_quote_volume=0, futures=True)
        feed = BinanceFeed(config, universe, sim.clock, emit=emit)
        await feed.start()
        try:
            futures = feed.market(Market.USDM)
            await eventually(lambda: len(futures.symbols) > 0, 10, "futures universe")
            assert all("_" not in s for s in futures.symbols)
            assert set(futures.symbols) <= set(sim.futures_symbols)
            await eventually(
                lambda: {Trade, MarkPrice, Liquidation, BookTicker} <= kinds, 15, "futures event kinds"
            )
            for conn in futures.pool.connections:  # never a mixed connection
                assert {route_for(Market.USDM, name) for name in conn.desired} == {conn.route}
            first_ms = sim.now_ms()
            await eventually(
                lambda: all(
                    (futures.closer.last_closed(s, "1m") or 0) > first_ms + 120_000 for s in futures.symbols
                ),
                15,
                "futures bars",
            )
            routes = {c.route for c in feed.state().markets[1].connections}
            # One connect limiter for both markets: the per-IP attempt cap bounds their sum.
            assert futures.pool.connect_limiter is feed.market(Market.SPOT).pool.connect_limiter
        finally:
            await feed.stop()
        assert routes == {Route.MARKET, Route.PUBLIC}
        assert sim.stats.futures.misrouted == 0
        for symbol in futures.symbols:
            opens = got.closed[(Market.USDM, symbol, "1m")]
            assert opens == [
                t for t in truth_opens(sim, symbol, "1m", Market.USDM) if opens[0] <= t <= opens[-1]
            ]


async def test_without_an_exchange_it_says_binance_unreachable_and_keeps_retrying() -> None:
    dead = MarketEndpoints(
        rest_url="http://127.0.0.1:9",
        ws_url="ws://127.0.0.1:9",
        weight_budget_per_min=100,
        streams_per_connection=10,
        control_messages_per_s=3,
    )
    config = BinanceConfig(spot=dead, futures=dead, reconnect_initial_s=0.02, reconnect_max_s=0.05)
    statuses: list[FeedStatus] = []
    feed = BinanceFeed(
        config,
        UniverseConfig(futures=False),
        SystemClock(),
        emit=lambda e: statuses.append(e) if isinstance(e, FeedStatus) else None,
    )
    await feed.start()
    try:
        await eventually(lambda: sum("Binance unreachable" in s.reason for s in statuses) >= 4, 10, "retries")
        assert any(s.level is StatusLevel.OPERATOR for s in statuses)
        assert feed.state().markets[0].symbols == 0
    finally:
        await asyncio.wait_for(feed.stop(), 5)
