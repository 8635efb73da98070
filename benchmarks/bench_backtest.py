"""Backtest throughput from archive files: one year of 1m bars for one symbol, one day for 300 symbols.

Run: `.venv/bin/python -m benchmarks.bench_backtest [--symbols 300] [--days 365]`.
Synthetic data.binance.vision kline CSVs (12 columns, ms timestamps, a seeded random walk) are written to
a temporary folder first (not timed). Then, timed separately: loading the files (`sources.archive`), the
merge plus every bar through the live `DetectorSet` (momentum and confluence both evaluating every
1m bar; confluence on one symbol as in production, then on every symbol as the worst case), and
scoring the signals. "total" is the wall time of one case end to end (the issue's "one year of 1m bars for
one symbol" and "one day for 300 symbols"). Memory: detector state per symbol after an hour of 1m bars,
measured separately with tracemalloc (not timed). One core, one process; numbers go to docs/performance.md.
"""

from __future__ import annotations

import argparse
import csv
import gc
import random
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptoradar.backtest.inputs import ArchiveInput, load, merge_in_event_order
from cryptoradar.backtest.runner import BacktestOptions, price_paths, replay_through_engine, score
from cryptoradar.config.detectors import ConfluenceConfig, DetectorsConfig, MomentumConfig, RadarConfig
from cryptoradar.detectors import DetectorSet
from cryptoradar.events import Event

MINUTE_MS = 60_000
START = datetime(2025, 1, 1, tzinfo=UTC)


def write_days(folder: Path, symbol: str, days: int, seed: int) -> list[Path]:
    """One daily archive file per day for `symbol`; returns the paths."""
    rng = random.Random(seed)
    price = rng.uniform(1.0, 1000.0)
    paths = []
    for d in range(days):
        day = START + timedelta(days=d)
        path = folder / f"{symbol}-1m-{day:%Y-%m-%d}.csv"
        day_ms = int(day.timestamp() * 1000)
        with path.open("w", newline="") as f:
            writer = csv.writer(f)
            for m in range(1440):
                open_ms = day_ms + m * MINUTE_MS
                p0, price = price, price * (1.0 + rng.gauss(0.0, 0.002))
                hi, lo = max(p0, price) * 1.0005, min(p0, price) * 0.9995
                volume = rng.uniform(10.0, 1000.0)
                writer.writerow(
                    [open_ms, f"{p0:.8f}", f"{hi:.8f}", f"{lo:.8f}", f"{price:.8f}", f"{volume:.4f}",
                     open_ms + MINUTE_MS - 1, f"{volume * price:.4f}", 100, f"{volume / 2:.4f}",
                     f"{volume * price / 2:.4f}", 0]
                )  # fmt: skip
        paths.append(path)
    return paths


def detectors(symbols: list[str], confluence_symbols: list[str]) -> DetectorsConfig:
    return DetectorsConfig(
        momentum=MomentumConfig(
            timeframe="1m", trend_timeframes=("1m",), min_move_pct=0.5, min_quote_volume=0.0
        ),
        confluence=ConfluenceConfig(symbols=tuple(confluence_symbols), intervals=("1m",)),
        radar=RadarConfig(enabled=False),
    )


def run(label: str, paths: list[Path], symbols: list[str], confluence_symbols: list[str]) -> None:
    gc.collect()
    t0 = time.perf_counter()
    streams = [load(ArchiveInput(p)) for p in paths]
    t1 = time.perf_counter()
    merged = list(merge_in_event_order([s.events for s in streams]))
    t2 = time.perf_counter()
    options = BacktestOptions(detectors=detectors(symbols, confluence_symbols))
    signals, _, bars = replay_through_engine(merged, options.detectors)
    t3 = time.perf_counter()
    outcomes = score(signals, price_paths(streams, options), options)
    t4 = time.perf_counter()
    print(
        f"{label}: {bars:,} bars in {len(paths)} files, confluence on {len(confluence_symbols)} symbol(s), "
        f"{len(signals):,} signals ({len(outcomes):,} scored)\n"
        f"  load archives   {t1 - t0:6.2f}s  ({bars / (t1 - t0):>10,.0f} bars/s)\n"
        f"  merge           {t2 - t1:6.2f}s  ({bars / (t2 - t1):>10,.0f} bars/s)\n"
        f"  detectors       {t3 - t2:6.2f}s  ({bars / (t3 - t2):>10,.0f} bars/s through DetectorSet)\n"
        f"  paths + scoring {t4 - t3:6.2f}s\n"
        f"  end to end      {t4 - t0:6.2f}s  ({bars / (t4 - t0):>10,.0f} bars/s)  <- total time",
        flush=True,
    )
    memory_per_symbol(merged, symbols, confluence_symbols)


def memory_per_symbol(merged: list[Event], symbols: list[str], confluence_symbols: list[str]) -> None:
    """Detector state after the first hour of bars (every indicator warm), in bytes per symbol."""
    hour = merged[: 60 * len(symbols)]
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    engine = DetectorSet(detectors(symbols, confluence_symbols))
    for e in hour:
        engine.on_event(e)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    print(
        f"  memory          {(after - before) / len(symbols):,.0f} bytes/symbol of detector state", flush=True
    )
    del engine


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--symbols", type=int, default=300)
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        year = write_days(folder, "BTCUSDT", args.days, seed=1)
        run(f"one symbol, {args.days} days of 1m", year, ["BTCUSDT"], ["BTCUSDT"])
        for p in year:
            p.unlink()
        names = [f"S{i:03d}USDT" for i in range(args.symbols)]
        day = [p for i, name in enumerate(names) for p in write_days(folder, name, 1, seed=100 + i)]
        # Production shape: momentum over the universe, confluence on one symbol; then the worst case.
        run(f"{args.symbols} symbols, one day of 1m", day, names, names[:1])
        run(f"{args.symbols} symbols, one day of 1m", day, names, names)


if __name__ == "__main__":
    main()
