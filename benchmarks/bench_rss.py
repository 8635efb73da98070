"""Resident memory of the market-data side with 1,000 spot symbols subscribed; the simulator runs apart.

Run alone with `python -m benchmarks rss` or through `python -m benchmarks`.

A `BinanceFeed` in this process subscribes what the default app subscribes: per spot symbol `kline_<i>`
for every default spot interval (1m 5m 15m 1h) plus `!miniTicker@arr`; per USD-M symbol `aggTrade` and
`markPrice@1s` plus `!forceOrder@arr`; and it bootstraps the default 100 closed bars per spot series from
REST. The simulator serves it from a child process, so its own memory is not counted (its RSS is printed
apart). Events are counted and dropped: no detectors, so the figure is the feed's own footprint (parser,
pool, bar closer, gap filler, universe, REST client, queue).

RSS (VmRSS of /proc/self/status) is read: after the feed is built (imports done, nothing started), after
discovery + subscribe + bootstrap, then every `SAMPLE_EVERY_WALL_S` during `TRAFFIC_WALL_S` of traffic at
`ACCELERATION`x (so `TRAFFIC_WALL_S * ACCELERATION / 60` exchange minutes). The peak is VmHWM.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections import Counter
from multiprocessing.queues import Queue
from pathlib import Path

from cryptoradar.config.binance import BinanceConfig, MarketEndpoints, UniverseConfig
from cryptoradar.core.metrics import REGISTRY
from cryptoradar.events import Event
from cryptoradar.sources.binance.feed import BinanceFeed

SPOT_SYMBOLS = 1_000
FUTURES_SYMBOLS = 300
"""About Binance's count of USDT perpetuals."""
ACCELERATION = 10.0
TRAFFIC_WALL_S = 90.0
SAMPLE_EVERY_WALL_S = 5.0
SETUP_TIMEOUT_S = 600.0
WEIGHT_PER_MIN = 100_000
"""The REST budget is raised (simulator and client alike) so the bootstrap of 4,000 series takes seconds
rather than the 100 s Binance's real limit would; memory does not depend on how fast it is fetched."""


def rss_kib(pid: int | str = "self", field: str = "VmRSS") -> int:
    """A memory figure of a process from /proc (Linux), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


SimInfo = tuple[str, str, str, str, int, float]
"""(spot REST, spot WS, USD-M REST, USD-M WS, exchange ms, time.monotonic() when it was read)."""


def _serve(info: Queue[SimInfo]) -> None:
    """Child process: the simulator until the parent terminates it."""
    # imported here, so the simulator's modules (numpy among them) weigh on the child's RSS only
    from cryptoradar.sim import SimOptions, Simulator

    opts = SimOptions(
        seed=7,
        symbols=SPOT_SYMBOLS,
        futures_symbols=FUTURES_SYMBOLS,
        acceleration=ACCELERATION,
        spot_weight_limit_1m=WEIGHT_PER_MIN * 2,
        futures_weight_limit_1m=WEIGHT_PER_MIN * 2,
    )

    async def serve() -> None:
        async with Simulator(opts) as sim:
            urls = (sim.spot_rest_url, sim.spot_ws_url, sim.futures_rest_url, sim.futures_ws_url)
            info.put((*urls, sim.now_ms(), time.monotonic()))
            await asyncio.Event().wait()

    asyncio.run(serve())


class ExchangeTime:
    """The simulator's exchange clock seen from another process (CLOCK_MONOTONIC is system-wide)."""

    def __init__(self, exchange_ms: int, monotonic_s: float, acceleration: float) -> None:
        self._exchange_ms = exchange_ms
        self._monotonic_s = monotonic_s
        self._acceleration = acceleration

    @property
    def rate(self) -> float:
        return self._acceleration

    def now_ns(self) -> int:
        elapsed_s = time.monotonic() - self._monotonic_s
        return (self._exchange_ms + int(elapsed_s * self._acceleration * 1000)) * 1_000_000


def feed_config(spot_rest: str, spot_ws: str, futures_rest: str, futures_ws: str) -> BinanceConfig:
    """Defaults except the endpoints, the REST budget, and the bar-close grace scaled to accelerated time."""
    defaults = BinanceConfig()

    def at(endpoints: MarketEndpoints, rest_url: str, ws_url: str) -> MarketEndpoints:
        update = {"rest_url": rest_url, "ws_url": ws_url, "weight_budget_per_min": WEIGHT_PER_MIN}
        return endpoints.model_copy(update=update)

    return defaults.model_copy(
        update={
            "spot": at(defaults.spot, spot_rest, spot_ws),
            "futures": at(defaults.futures, futures_rest, futures_ws),
            # the default grace is 3 s of exchange time; at 10x that is 0.3 s of wall time, too tight for
            # a loaded machine, so missing final pushes would be fetched from REST for no reason
            "close_grace_ms": int(3_000 * ACCELERATION),
        }
    )


def frames_received() -> float:
    return sum(
        sample.value
        for metric in REGISTRY.collect()
        if metric.name == "cryptoradar_frames"
        for sample in metric.samples
        if sample.name == "cryptoradar_frames_total"
    )


async def measure() -> None:
    ctx = multiprocessing.get_context("spawn")
    info: Queue[SimInfo] = ctx.Queue()
    sim = ctx.Process(target=_serve, args=(info,), daemon=True)
    sim.start()
    try:
        *urls, exchange_ms, monotonic_s = await asyncio.to_thread(info.get, True, SETUP_TIMEOUT_S)
        events: Counter[str] = Counter()

        def emit(event: Event) -> None:
            events[type(event).__name__] += 1

        universe = UniverseConfig(min_avg_hourly_quote_volume=0, max_symbols=SPOT_SYMBOLS)
        feed = BinanceFeed(
            feed_config(*urls), universe, ExchangeTime(exchange_ms, monotonic_s, ACCELERATION), emit
        )
        baseline_kib = rss_kib()
        started_s = time.perf_counter()
        await feed.start()
        try:
            await asyncio.wait_for(feed.wait_bootstrapped(), SETUP_TIMEOUT_S)
            setup_s = time.perf_counter() - started_s
            subscribed_kib = rss_kib()
            state = feed.state()
            frames0, events0 = frames_received(), sum(events.values())
            samples_kib: list[int] = []
            traffic_started_s = time.perf_counter()
            while (elapsed_s := time.perf_counter() - traffic_started_s) < TRAFFIC_WALL_S:
                await asyncio.sleep(min(SAMPLE_EVERY_WALL_S, TRAFFIC_WALL_S - elapsed_s))
                samples_kib.append(rss_kib())
            traffic_s = time.perf_counter() - traffic_started_s
            frames = frames_received() - frames0
            delivered = sum(events.values()) - events0
            sim_kib = rss_kib(sim.pid or 0)
            peak_kib = rss_kib(field="VmHWM")
        finally:
            await feed.stop()
    finally:
        sim.terminate()
        sim.join(10)

    for market in state.markets:
        print(
            f"{market.market.value:5} symbols {market.symbols:5}  streams {market.streams:5}  "
            f"connections {len(market.connections)}"
        )
    print(f"discover + subscribe + bootstrap took {setup_s:.1f} s")
    print(f"RSS feed built (baseline)        {baseline_kib / 1024:7.1f} MiB")
    print(f"RSS subscribed + bootstrapped    {subscribed_kib / 1024:7.1f} MiB")
    minutes = traffic_s * ACCELERATION / 60
    print(
        f"RSS during {traffic_s:.0f} s of traffic at {ACCELERATION:.0f}x ({minutes:.0f} exchange min): "
        f"min {min(samples_kib) / 1024:.1f} / last {samples_kib[-1] / 1024:.1f} MiB; peak (VmHWM) {peak_kib / 1024:.1f} MiB"
    )
    print(f"  samples MiB: {' '.join(f'{s / 1024:.0f}' for s in samples_kib)}")
    print(f"traffic: {frames / traffic_s:,.0f} frames/s, {delivered / traffic_s:,.0f} events/s delivered")
    print(f"simulator process RSS (not counted above): {sim_kib / 1024:.1f} MiB")


def main() -> None:
    asyncio.run(measure())


if __name__ == "__main__":
    main()
