"""Helpers shared by the Binance integration tests: a feed pointed at the simulator and a collector."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from cryptoradar.config.binance import BinanceConfig, MarketEndpoints, UniverseConfig
from cryptoradar.events import Bar, Event, FeedStatus, Market
from cryptoradar.sim import Simulator
from cryptoradar.sources.binance.feed import BinanceFeed


def sim_config(sim: Simulator, **overrides: object) -> BinanceConfig:
    base: dict[str, object] = {
        "spot": MarketEndpoints(
            rest_url=sim.spot_rest_url,
            ws_url=sim.spot_ws_url,
            weight_budget_per_min=4800,
            streams_per_connection=1024,
            control_messages_per_s=3,
        ),
        "futures": MarketEndpoints(
            rest_url=sim.futures_rest_url,
            ws_url=sim.futures_ws_url,
            weight_budget_per_min=1800,
            streams_per_connection=200,
            control_messages_per_s=5,
        ),
        "spot_intervals": ("1m",),
        "bootstrap_bars": 5,
        "stale_after_s": 1.5,
        "reconnect_initial_s": 0.1,
        "reconnect_max_s": 1.0,
        # At 60x, 6 s of exchange time is 0.1 s of wall time: a final push later than that is fetched.
        "close_grace_ms": 6_000,
        "refetch_after_s": 0.3,
        "bar_check_s": 0.05,
        "spot_all_market_streams": (),
        "connect_attempts_per_5min": 300,
    }
    base.update(overrides)
    return BinanceConfig.model_validate(base)


ALL_SYMBOLS = UniverseConfig(min_avg_hourly_quote_volume=0, futures=False, max_symbols=5000)


@dataclass
class Collector:
    closed: dict[tuple[Market, str, str], list[int]] = field(default_factory=lambda: defaultdict(list))
    """(market, symbol, interval) -> open times of closed bars, in arrival order."""
    values: dict[tuple[Market, str, int], tuple[float, float, float]] = field(default_factory=dict)
    """(market, symbol, open ms) -> (close, volume, quote volume) of the closed bar."""
    status: list[FeedStatus] = field(default_factory=list)
    in_progress: int = 0
    other: int = 0

    def __call__(self, event: Event) -> None:
        if isinstance(event, Bar):
            if event.closed:
                self.closed[(event.market, event.symbol, event.interval)].append(event.open_time_ms)
                key = (event.market, event.symbol, event.open_time_ms)
                self.values[key] = (event.close, event.volume, event.quote_volume)
            else:
                self.in_progress += 1
        elif isinstance(event, FeedStatus):
            self.status.append(event)
        else:
            self.other += 1

    def total_closed(self) -> int:
        return sum(len(v) for v in self.closed.values())


def truth_opens(sim: Simulator, symbol: str, interval: str, market: Market = Market.SPOT) -> list[int]:
    return [int(row[0]) for row in sim.closed_bars(symbol, interval, market)]


def truth_values(
    sim: Simulator, symbol: str, interval: str, market: Market = Market.SPOT
) -> dict[int, tuple[float, float, float]]:
    """open ms -> (close, volume, quote volume); truth rows are (open, o, h, l, c, v, q, n, V, Q)."""
    return {
        int(row[0]): (float(row[4]), float(row[5]), float(row[6]))
        for row in sim.closed_bars(symbol, interval, market)
    }


@asynccontextmanager
async def bootstrapped_feed(
    sim: Simulator, config: BinanceConfig, universe: UniverseConfig, collector: Collector
) -> AsyncIterator[BinanceFeed]:
    """A started feed on the simulator's clock, past its bootstrap; stopped on exit."""
    feed = BinanceFeed(config, universe, sim.clock, emit=collector)
    await feed.start()
    try:
        await feed.wait_bootstrapped()
        yield feed
    finally:
        await feed.stop()
