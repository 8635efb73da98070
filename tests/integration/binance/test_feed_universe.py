"""Universe joiners and leavers live, against the simulator over real sockets: a new listing is subscribed
and its closed bars arrive exactly once from its first full bar; a delisted symbol is unsubscribed; the
other streams never reconnect and the simulator counts no violation."""

from __future__ import annotations

from sim_feed import Collector, bootstrapped_feed, sim_config, truth_opens

from conftest import eventually
from cryptoradar.config.binance import UniverseConfig
from cryptoradar.events import ConnectionState, Market
from cryptoradar.sim import SimOptions, Simulator

NO_VIOLATIONS = {"stream_cap": 0, "control_rate": 0, "pong_timeout": 0, "connect_attempts": 0}


async def test_spot_listing_and_delisting_found_from_the_streams_without_reconnects() -> None:
    opts = SimOptions(seed=5, symbols=20, acceleration=60.0, intervals=("1m", "5m"), futures_symbols=1,
                      scenarios=False, spot_listings=1)  # fmt: skip
    async with Simulator(opts) as sim:
        got = Collector()
        config = sim_config(sim, spot_intervals=("1m", "5m"), spot_all_market_streams=("!miniTicker@arr",))
        # The hourly refresh never comes in this test: the streams alone must reveal both changes.
        universe = UniverseConfig(min_avg_hourly_quote_volume=0, futures=False, refresh_s=3600,
                                  early_refresh_min_gap_s=0.2)  # fmt: skip
        async with bootstrapped_feed(sim, config, universe, got) as feed:
            spot = feed.market(Market.SPOT)
            await eventually(
                lambda: all(c.state is ConnectionState.CONNECTED for c in spot.pool.info()), 10, "up"
            )
            opened = sim.stats.spot.connections_opened
            joiner = sim.list_symbol(Market.SPOT)
            await eventually(lambda: joiner in spot.symbols, 10, "the new listing joins")
            await eventually(lambda: len(got.closed[(Market.SPOT, joiner, "1m")]) >= 3, 10, "its bars")
            await eventually(lambda: len(got.closed[(Market.SPOT, joiner, "5m")]) >= 1, 15, "its 5m bar")
            leaver = "XRPUSDT"
            sim.delist_symbol(leaver)
            await eventually(lambda: leaver not in spot.symbols, 10, "the delisted symbol leaves")
            await eventually(
                lambda: sim.stats.spot.subscriptions == len(spot.pool.streams), 5, "unsubscribed"
            )
            left_with = {i: len(got.closed[(Market.SPOT, leaver, i)]) for i in ("1m", "5m")}
            seen = len(got.closed[(Market.SPOT, joiner, "1m")])
            await eventually(
                lambda: len(got.closed[(Market.SPOT, joiner, "1m")]) >= seen + 3, 10, "more bars"
            )
            state = feed.state().markets[0]
        assert not any(leaver.lower() in s for s in spot.pool.streams)
        assert {f"{joiner.lower()}@kline_1m", f"{joiner.lower()}@kline_5m"} <= spot.pool.streams
        assert {i: len(got.closed[(Market.SPOT, leaver, i)]) for i in ("1m", "5m")} == left_with
        assert sim.stats.spot.connections_opened == opened  # nothing reconnected
        assert sim.stats.spot.closes == {}
        assert sim.stats.spot.violations == NO_VIOLATIONS
        assert all(c.state is ConnectionState.CONNECTED for c in state.connections)
        assert spot.refreshes <= 5  # discovery + an early refresh per change (+ one where hints straddle one)
        for interval in ("1m", "5m"):
            opens = got.closed[(Market.SPOT, joiner, interval)]
            truth = truth_opens(sim, joiner, interval)
            assert opens == truth[: len(opens)], interval  # from its first full bar, each once, in order
        assert got.closed[(Market.SPOT, joiner, "1m")][0] % 60_000 == 0


async def test_futures_listing_joins_on_the_configured_refresh_interval() -> None:
    opts = SimOptions(seed=6, symbols=5, acceleration=60.0, intervals=("1m",), futures_symbols=3,
                      scenarios=False, futures_listings=1)  # fmt: skip
    async with Simulator(opts) as sim:
        got = Collector()
        config = sim_config(sim, spot_intervals=(), futures_intervals=("1m",), futures_symbol_streams=(),
                            futures_all_market_streams=())  # fmt: skip
        universe = UniverseConfig(min_avg_hourly_quote_volume=0, include=("BTCUSDT",), max_symbols=1, futures=True,
                                  refresh_s=0.5)  # fmt: skip
        async with bootstrapped_feed(sim, config, universe, got) as feed:
            futures = feed.market(Market.USDM)
            opened = sim.stats.futures.connections_opened
            joiner = sim.list_symbol(Market.USDM)
            await eventually(lambda: joiner in futures.symbols, 10, "the new perpetual joins")
            await eventually(lambda: len(got.closed[(Market.USDM, joiner, "1m")]) >= 3, 10, "its bars")
        opens = got.closed[(Market.USDM, joiner, "1m")]
        assert opens == truth_opens(sim, joiner, "1m", Market.USDM)[: len(opens)]
        assert sim.stats.futures.connections_opened == opened
        assert sim.stats.futures.violations == NO_VIOLATIONS
        assert futures.refreshes >= 2
