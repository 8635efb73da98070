"""Detector throughput and memory: bar updates/s, trades/s, liquidations/s, bytes per symbol.

Run: `.venv/bin/python -m benchmarks.bench_detectors [--symbols 1000] [--bars 120] [--trades 1000000]`.
Events are generated up front (seeded random walks), so the timings cover the detectors only. One core,
one process; numbers go to docs/detectors.md.
"""

from __future__ import annotations

import argparse
import gc
import random
import time
import tracemalloc
from collections.abc import Callable, Sequence
from typing import TypeVar

from cryptoradar.config.detectors import ConfluenceConfig, DetectorsConfig, MomentumConfig
from cryptoradar.detectors import ConfluenceDetector, DetectorSet, FuturesRadar, MomentumDetector
from cryptoradar.events import Bar, Event, Liquidation, Market, Side, Signal, Trade

E = TypeVar("E", bound=Event)
T0_MS = 1_767_225_600_000
STEP_15M_MS = 900_000
NS_PER_MS = 1_000_000


def make_bars(
    symbols: Sequence[str], bars_per_symbol: int, interval: str, step_ms: int, seed: int
) -> list[Bar]:
    """Closed bars in time order (all symbols' bar i, then bar i + 1...), a random walk per symbol."""
    rng = random.Random(seed)
    price = {s: rng.uniform(0.1, 1000.0) for s in symbols}
    out: list[Bar] = []
    for i in range(bars_per_symbol):
        open_ms = T0_MS + i * step_ms
        for s in symbols:
            p0 = price[s]
            p1 = p0 * (1.0 + rng.gauss(0.0, 0.01))
            price[s] = p1
            vol = rng.uniform(1e3, 1e5)
            hi = max(p0, p1) * (1 + abs(rng.gauss(0, 0.003)))
            lo = min(p0, p1) * (1 - abs(rng.gauss(0, 0.003)))
            out.append(
                Bar(
                    Market.SPOT,
                    s,
                    interval,
                    open_ms,
                    open_ms + step_ms - 1,
                    p0,
                    hi,
                    lo,
                    p1,
                    vol,
                    vol * p1,
                    100,
                    vol / 2,
                    vol * p1 / 2,
                    True,
                    (open_ms + step_ms) * NS_PER_MS,
                    (open_ms + step_ms) * NS_PER_MS,
                )
            )
    return out


def make_trades(symbols: Sequence[str], count: int, seed: int) -> list[Trade]:
    """Mostly small trades, about one in 2,000 above the catch-all whale threshold."""
    rng = random.Random(seed)
    out: list[Trade] = []
    ts = T0_MS * NS_PER_MS
    for i in range(count):
        ts += 200_000  # 5,000 trades per second of event time
        notional = rng.paretovariate(1.2) * 200.0
        out.append(
            Trade(Market.USDM, rng.choice(symbols), i, 100.0, notional / 100.0, rng.random() < 0.5, ts, ts)
        )
    return out


def make_liquidations(symbols: Sequence[str], count: int, seed: int) -> list[Liquidation]:
    rng = random.Random(seed)
    out: list[Liquidation] = []
    ts = T0_MS * NS_PER_MS
    for _ in range(count):
        ts += 5_000_000  # 200 per second of event time
        qty = rng.paretovariate(1.5) * 50.0
        side = Side.BUY if rng.random() < 0.5 else Side.SELL
        out.append(
            Liquidation(Market.USDM, rng.choice(symbols), side, 100.0, 100.0, qty, qty, "FILLED", ts, ts)
        )
    return out


def timed(
    label: str, events: Sequence[E], make: Callable[[], Callable[[E], list[Signal]]], repeats: int
) -> float:
    """Best of `repeats` runs, each through a fresh detector (the machine is shared: best is least noisy)."""
    best = 0.0
    signals = 0
    for _ in range(repeats):
        handle = make()
        gc.collect()
        signals = 0
        start = time.perf_counter()
        for e in events:
            signals += len(handle(e))
        best = max(best, len(events) / (time.perf_counter() - start))
    print(f"{label:<58} {best:>12,.0f} /s  ({len(events):,} events, {signals:,} signals, best of {repeats})")
    return best


def memory_per_symbol(label: str, build: Callable[[], object], symbols: int) -> None:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    keep = build()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    print(f"{label:<58} {(after - before) / symbols:>12,.0f} bytes/symbol")
    del keep


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--symbols", type=int, default=1000)
    parser.add_argument("--bars", type=int, default=120, help="closed 15m bars per symbol")
    parser.add_argument("--trades", type=int, default=1_000_000)
    parser.add_argument("--liquidations", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    symbols = [f"S{i:04d}USDT" for i in range(args.symbols)]
    bars = make_bars(symbols, args.bars, "15m", STEP_15M_MS, seed=1)
    trades = make_trades(symbols, args.trades, seed=2)
    liqs = make_liquidations(symbols, args.liquidations, seed=3)
    every = ConfluenceConfig(symbols=tuple(symbols), intervals=("15m",))
    momentum_only = MomentumConfig(trend_timeframes=("15m",))

    print(f"{args.symbols} symbols, {args.bars} bars each; python {__import__('sys').version.split()[0]}")
    n = args.repeats
    default = DetectorsConfig(momentum=momentum_only)
    both = DetectorsConfig(confluence=every, momentum=momentum_only)
    radar_cfg = DetectorsConfig().radar
    timed(
        "bars: DetectorSet, default (momentum all, confluence BTC)",
        bars,
        lambda: DetectorSet(default).on_event,
        n,
    )
    timed(
        "bars: DetectorSet, momentum + confluence on every symbol",
        bars,
        lambda: DetectorSet(both).on_event,
        n,
    )
    timed("bars: MomentumDetector alone", bars, lambda: MomentumDetector(momentum_only).on_bar, n)
    timed("bars: ConfluenceDetector alone (every symbol)", bars, lambda: ConfluenceDetector(every).on_bar, n)
    timed("trades: DetectorSet", trades, lambda: DetectorSet(DetectorsConfig()).on_event, n)
    timed("trades: FuturesRadar.on_trade alone", trades, lambda: FuturesRadar(radar_cfg).on_trade, n)
    timed(
        "liquidations: FuturesRadar.on_liquidation alone",
        liqs,
        lambda: FuturesRadar(radar_cfg).on_liquidation,
        n,
    )
    timed("liquidations: DetectorSet", liqs, lambda: DetectorSet(DetectorsConfig()).on_event, n)

    warm = make_bars(symbols, 60, "15m", STEP_15M_MS, seed=4)

    def warmed(det_cfg: DetectorsConfig) -> DetectorSet:
        d = DetectorSet(det_cfg)
        for b in warm:
            d.on_event(b)
        return d

    memory_per_symbol(
        "memory: momentum + confluence, warmed up",
        lambda: warmed(DetectorsConfig(confluence=every, momentum=momentum_only)),
        args.symbols,
    )

    def full_radar() -> FuturesRadar:
        r = FuturesRadar(DetectorsConfig().radar)
        ts = T0_MS * NS_PER_MS
        for k in range(30):  # a liquidation and a whale trade per symbol per second, 30 s: full windows
            for s in symbols:
                r.on_liquidation(
                    Liquidation(Market.USDM, s, Side.SELL, 100.0, 100.0, 10.0, 10.0, "FILLED", ts, ts)
                )
                r.on_trade(Trade(Market.USDM, s, k, 100.0, 2e3, False, ts, ts))
            ts += 1_000_000_000
        return r

    memory_per_symbol("memory: radar with full 30 s windows (30 + 30 events)", full_radar, args.symbols)


if __name__ == "__main__":
    main()
