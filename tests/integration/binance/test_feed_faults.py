"""Acceptance: closed bars exactly once against the simulator under >= 50 random faults."""

from __future__ import annotations

import asyncio
import random
import time

import pytest
from sim_feed import ALL_SYMBOLS, Collector, sim_config, truth_opens, truth_values

from conftest import eventually
from cryptoradar.events import Market
from cryptoradar.sim import Fault, FaultKind, SimOptions, Simulator
from cryptoradar.sources.binance.feed import BinanceFeed

FAULT_KINDS = (
    FaultKind.DROP_CONNECTIONS,
    FaultKind.STALL,
    FaultKind.DUPLICATE_FRAMES,
    FaultKind.OUT_OF_ORDER,
    FaultKind.MALFORMED_FRAMES,
    FaultKind.SERVER_SHUTDOWN,
)
M = 60_000


@pytest.mark.slow
async def test_closed_bars_equal_ground_truth_under_random_faults() -> None:
    opts = SimOptions(seed=11, symbols=330, acceleration=60.0, intervals=("1m",), futures_symbols=1)
    async with Simulator(opts) as sim:
        got = Collector()
        config = sim_config(sim, spot={**sim_config(sim).spot.model_dump(), "streams_per_connection": 100})
        feed = BinanceFeed(config, ALL_SYMBOLS, sim.clock, emit=got)
        await feed.start()
        try:
            spot = feed.market(Market.SPOT)
            await eventually(lambda: len(spot.symbols) >= 300, 20, "a universe of >= 300 symbols")
            await eventually(lambda: got.total_closed() >= 300 * 6, 20, "bootstrap + live bars")
            symbols = sorted(spot.symbols)
            rng = random.Random(5)
            wall_start = time.monotonic()
            for _ in range(60):
                kind = rng.choice(FAULT_KINDS)
                sim.inject(
                    Fault(
                        kind=kind,
                        market=Market.SPOT,
                        fraction=rng.choice((1.0, 0.5)),
                        count=rng.randint(1, 5),
                        duration_wall_s=rng.choice((0.3, 2.0)) if kind is FaultKind.STALL else None,
                    )
                )
                await asyncio.sleep(rng.uniform(0.05, 0.35))
            fault_wall_s = time.monotonic() - wall_start
            assert sum(sim.stats.spot.faults.values()) >= 50
            target_ms = sim.now_ms() // M * M - M  # the last bar closed by now
            await eventually(
                lambda: all(got.closed[(Market.SPOT, s, "1m")][-1] >= target_ms for s in symbols),
                30,
                "every series caught up after the faults",
            )
        finally:
            await feed.stop()
        missing = duplicated = unordered = wrong_values = 0
        for symbol in symbols:
            opens = got.closed[(Market.SPOT, symbol, "1m")]
            truth = truth_opens(sim, symbol, "1m")
            window = [t for t in truth if opens[0] <= t <= opens[-1]]
            duplicated += len(opens) - len(set(opens))
            unordered += opens != sorted(opens)
            missing += len(set(window) - set(opens))
            values = truth_values(sim, symbol, "1m")
            wrong_values += sum(got.values[(Market.SPOT, symbol, t)] != values[t] for t in opens)
            assert opens == window, symbol
            assert opens[-1] >= target_ms
        assert (missing, duplicated, unordered, wrong_values) == (0, 0, 0, 0)
        bars_total = got.total_closed()
        print(
            f"\nfault test: {bars_total} closed bars over {len(symbols)} series, "
            f"{sum(sim.stats.spot.faults.values())} faults in {fault_wall_s:.1f} s, "
            f"reconnects={sim.stats.spot.connections_opened}, dropped={dict(spot.closer.dropped)}, "
            f"rest_fetches={spot.filler.fetches}"
        )
