"""Resident memory of the whole service for the whole universe: 1,000 spot + 300 USD-M symbols.

Run alone with `python -m benchmarks memory`; `BENCH_MEMORY_TRACE=1` adds a breakdown by component.

Unlike `bench_rss` (the feed alone), this process runs a complete `Radar`, the object `cryptoradar run`
builds: feed, bar closer, every default detector, the alert service with a file channel, the SQLite store
and the HTTP API, with the default config except the endpoints, the REST budget and an accelerated grace
(see `bench_rss.feed_config`). The simulator serves it from a child process, so its memory is not counted.

RSS (VmRSS) is read after the Radar is built (imports done, nothing started), after discovery + subscribe +
bootstrap, and every `SAMPLE_EVERY_WALL_S` during `TRAFFIC_WALL_S` of traffic at `bench_rss.ACCELERATION`x;
the peak is VmHWM. With BENCH_MEMORY_TRACE=1, tracemalloc runs from before the Radar is built and the
Python allocations still live after the traffic are summed by the package that made them (cryptoradar's
subpackages by name, others by top-level module); tracemalloc itself inflates RSS, so the RSS figures of a
traced run are not the ones to quote.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import tempfile
import time
import tracemalloc
from collections import Counter
from multiprocessing.queues import Queue
from pathlib import Path

from benchmarks.bench_rss import (
    ACCELERATION,
    SETUP_TIMEOUT_S,
    SPOT_SYMBOLS,
    ExchangeTime,
    SimInfo,
    _serve,
    feed_config,
    rss_kib,
)
from cryptoradar.app import Radar
from cryptoradar.config import Settings
from cryptoradar.config.alerts import AlertsConfig, LogChannel
from cryptoradar.config.api import ApiConfig
from cryptoradar.config.binance import UniverseConfig
from cryptoradar.config.storage import StorageConfig

TRAFFIC_WALL_S = 90.0
SAMPLE_EVERY_WALL_S = 5.0
TOP_COMPONENTS = 14


def settings_in(var_dir: Path, urls: list[str]) -> Settings:
    return Settings(
        binance=feed_config(*urls),
        universe=UniverseConfig(min_avg_hourly_quote_volume=0, max_symbols=SPOT_SYMBOLS),
        alerts=AlertsConfig(
            channels={"file": LogChannel(path=var_dir / "alerts.jsonl")}, default_channels=("file",)
        ),
        api=ApiConfig(port=0),
        storage=StorageConfig(sqlite_path=var_dir / "cryptoradar.db"),
    )


def component(filename: str) -> str:
    """The part of the service an allocation belongs to, from the file that made it."""
    parts = Path(filename).parts
    if "cryptoradar" in parts:
        i = len(parts) - 1 - parts[::-1].index("cryptoradar")
        rest = parts[i + 1 :]
        if len(rest) >= 2 and rest[0] == "sources":
            return f"cryptoradar.sources.{rest[1]}"
        return f"cryptoradar.{rest[0].removesuffix('.py')}" if rest else "cryptoradar"
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1].removesuffix(".py")
    return "python stdlib"


def breakdown(snapshot: tracemalloc.Snapshot) -> list[tuple[str, int]]:
    sizes: Counter[str] = Counter()
    for stat in snapshot.statistics("filename"):
        sizes[component(stat.traceback[0].filename)] += stat.size
    return sizes.most_common()


async def measure(trace: bool) -> None:
    ctx = multiprocessing.get_context("spawn")
    info: Queue[SimInfo] = ctx.Queue()
    sim = ctx.Process(target=_serve, args=(info,), daemon=True)
    sim.start()
    try:
        *urls, exchange_ms, monotonic_s = await asyncio.to_thread(info.get, True, SETUP_TIMEOUT_S)
        with tempfile.TemporaryDirectory() as var_dir:
            if trace:
                tracemalloc.start()
            radar = Radar(
                settings_in(Path(var_dir), urls), clock=ExchangeTime(exchange_ms, monotonic_s, ACCELERATION)
            )
            built_kib = rss_kib()
            started_s = time.perf_counter()
            await radar.start()
            try:
                await asyncio.wait_for(radar.feed.wait_bootstrapped(), SETUP_TIMEOUT_S)
                setup_s = time.perf_counter() - started_s
                bootstrapped_kib = rss_kib()
                state = radar.feed_state()
                samples_kib: list[int] = []
                traffic_started_s = time.perf_counter()
                while (elapsed_s := time.perf_counter() - traffic_started_s) < TRAFFIC_WALL_S:
                    await asyncio.sleep(min(SAMPLE_EVERY_WALL_S, TRAFFIC_WALL_S - elapsed_s))
                    samples_kib.append(rss_kib())
                snapshot = tracemalloc.take_snapshot() if trace else None
                sim_kib = rss_kib(sim.pid or 0)
                peak_kib = rss_kib(field="VmHWM")
                signals = sum(radar.stats.signals.values())
            finally:
                await radar.stop(timeout_s=30)
    finally:
        sim.terminate()
        sim.join(10)

    for market in state.markets:
        print(
            f"{market.market.value:5} symbols {market.symbols:5}  streams {market.streams:5}  series {market.bootstrap_total}"
        )
    print(f"discover + subscribe + bootstrap took {setup_s:.1f} s; {signals} signals during the run")
    print(f"RSS Radar built (imports, nothing started) {built_kib / 1024:7.1f} MiB")
    print(f"RSS started + bootstrapped                 {bootstrapped_kib / 1024:7.1f} MiB")
    print(
        f"RSS during {TRAFFIC_WALL_S:.0f} s of traffic at {ACCELERATION:.0f}x: max {max(samples_kib) / 1024:.1f} / "
        f"last {samples_kib[-1] / 1024:.1f} MiB; peak (VmHWM) {peak_kib / 1024:.1f} MiB"
    )
    print(f"  samples MiB: {' '.join(f'{s / 1024:.0f}' for s in samples_kib)}")
    print(f"simulator process RSS (not counted above): {sim_kib / 1024:.1f} MiB")
    if snapshot is not None:
        print("live Python allocations after the traffic, by component (tracemalloc):")
        rows = breakdown(snapshot)
        for name, size in rows[:TOP_COMPONENTS]:
            print(f"  {name:40} {size / 2**20:7.1f} MiB")
        print(f"  {'(everything else)':40} {sum(s for _, s in rows[TOP_COMPONENTS:]) / 2**20:7.1f} MiB")


def main() -> None:
    asyncio.run(measure(trace=os.environ.get("BENCH_MEMORY_TRACE") == "1"))


if __name__ == "__main__":
    main()
