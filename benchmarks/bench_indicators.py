"""Indicator throughput on one core: updates/s per indicator, and bars/s through a detector bundle.

Run alone with `python -m benchmarks.bench_indicators [n_updates]` or through `python -m benchmarks`.
Inputs are a seeded random walk, prepared as plain Python floats before the clock starts.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from cryptoradar.indicators import (
    ADX,
    ATR,
    EMA,
    RMA,
    ROC,
    RSI,
    SMA,
    VWAP,
    EfficiencyRatio,
    RollingStats,
    TrueRange,
    ZScore,
)

DEFAULT_UPDATES = 1_000_000
BAR_MS = 60_000

Bar = tuple[float, float, float, float, int]


@dataclass(frozen=True)
class Result:
    name: str
    updates: int
    elapsed_s: float

    @property
    def per_s(self) -> float:
        return self.updates / self.elapsed_s


def make_bars(n: int, seed: int = 7) -> list[Bar]:
    """(high, low, close, volume, open_ms) of a random walk around 100."""
    rng = random.Random(seed)
    bars: list[Bar] = []
    close = 100.0
    for i in range(n):
        prev = close
        close = max(0.01, close * (1.0 + rng.gauss(0.0, 0.002)))
        high = max(prev, close) * (1.0 + abs(rng.gauss(0.0, 0.0005)))
        low = min(prev, close) * (1.0 - abs(rng.gauss(0.0, 0.0005)))
        volume = rng.expovariate(0.05) if rng.random() > 0.02 else 0.0
        bars.append((high, low, close, volume, 1_700_006_400_000 + i * BAR_MS))
    return bars


def time_values(name: str, update: Callable[[float], float], values: list[float]) -> Result:
    start = time.perf_counter()
    for x in values:
        update(x)
    return Result(name, len(values), time.perf_counter() - start)


def time_hlc(name: str, update: Callable[[float, float, float], float], bars: list[Bar]) -> Result:
    hlc = [(h, lo, c) for h, lo, c, _, _ in bars]
    start = time.perf_counter()
    for h, lo, c in hlc:
        update(h, lo, c)
    return Result(name, len(hlc), time.perf_counter() - start)


def time_vwap(bars: list[Bar]) -> Result:
    update = VWAP().update
    start = time.perf_counter()
    for h, lo, c, v, ts in bars:
        update(h, lo, c, v, ts)
    return Result("VWAP (UTC day)", len(bars), time.perf_counter() - start)


def time_bundle(bars: list[Bar]) -> Result:
    """What a momentum detector runs per closed bar: 8 indicators over close, bar and volume."""
    ema9, ema21, ema50 = EMA(9).update, EMA(21).update, EMA(50).update
    rsi6, atr14, vwap = RSI(6).update, ATR(14).update, VWAP().update
    volume_ma20, volume_z20 = SMA(20).update, ZScore(20).update
    start = time.perf_counter()
    for h, lo, c, v, ts in bars:
        ema9(c)
        ema21(c)
        ema50(c)
        rsi6(c)
        atr14(h, lo, c)
        vwap(h, lo, c, v, ts)
        volume_ma20(v)
        volume_z20(v)
    return Result(
        "bundle: EMA9/21/50 RSI6 ATR14 VWAP SMA20(v) Z20(v)", len(bars), time.perf_counter() - start
    )


def run(n_updates: int = DEFAULT_UPDATES) -> list[Result]:
    bars = make_bars(n_updates)
    closes = [c for _, _, c, _, _ in bars]
    return [
        time_values("SMA(20)", SMA(20).update, closes),
        time_values("EMA(21) talib seed", EMA(21).update, closes),
        time_values("EMA(21) first seed", EMA(21, seed="first").update, closes),
        time_values("RMA(14)", RMA(14).update, closes),
        time_values("RSI(14)", RSI(14).update, closes),
        time_values("ROC(10)", ROC(10).update, closes),
        time_values("EfficiencyRatio(10)", EfficiencyRatio(10).update, closes),
        time_values("RollingStats(20)", RollingStats(20).update, closes),
        time_values("ZScore(20)", ZScore(20).update, closes),
        time_hlc("TrueRange", TrueRange().update, bars),
        time_hlc("ATR(14)", ATR(14).update, bars),
        time_hlc("ADX(14)", ADX(14).update, bars),
        time_vwap(bars),
        time_bundle(bars),
    ]


def main(n_updates: int = DEFAULT_UPDATES) -> None:
    print(
        f"indicators: {n_updates:,} updates each, one core, {sys.implementation.name} {sys.version.split()[0]}"
    )
    for result in run(n_updates):
        unit = "bars/s" if result.name.startswith("bundle") else "updates/s"
        print(f"  {result.name:<52} {result.per_s:>12,.0f} {unit}  ({result.elapsed_s:.2f} s)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_UPDATES)
