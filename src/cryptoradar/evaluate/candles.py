"""`evaluate --candles`: real candle files through the detectors, counted per detector and symbol.

The files are read and identified exactly as `backtest --candles` reads them (`backtest.command.
candle_inputs`: freqtrade feather/JSON, data.binance.vision CSV/zip, JSON arrays), missing intervals
built by exact resampling (`backtest.timeframes`), and the merged events replayed through a fresh
`DetectorSet` (`backtest.runner.replay_through_engine`, the live code). This report is deliberately
small: signals per detector and symbol, and per symbol-day of data; the real-data statistics
(recall of significant moves, forward returns against a baseline) build on `CandleEvaluation`.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
from rich.table import Table

from cryptoradar.backtest.command import candle_inputs
from cryptoradar.backtest.runner import BacktestOptions, prepare, replay_through_engine
from cryptoradar.backtest.timeframes import TimeframePlan
from cryptoradar.config.detectors import DetectorsConfig
from cryptoradar.detectors.confluence import DETECTOR as CONFLUENCE
from cryptoradar.detectors.momentum import DETECTOR as MOMENTUM
from cryptoradar.detectors.radar import DETECTOR as RADAR
from cryptoradar.events import Bar, Market, Signal

__all__ = ["CandleEvaluation", "Series", "evaluate_candles", "render_candle_table"]

_DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class Series:
    """The closed bars of one (market, symbol, interval) as columns, ascending by open time."""

    open_ms: npt.NDArray[np.int64]
    close_ms: npt.NDArray[np.int64]
    open: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    low: npt.NDArray[np.float64]
    close: npt.NDArray[np.float64]

    @classmethod
    def from_bars(cls, bars: Sequence[Bar]) -> Series:
        unique = sorted({b.open_time_ms: b for b in bars}.values(), key=lambda b: b.open_time_ms)
        ints = np.array([(b.open_time_ms, b.close_time_ms) for b in unique], dtype=np.int64).reshape(-1, 2)
        floats = np.array([(b.open, b.high, b.low, b.close) for b in unique], dtype=np.float64).reshape(-1, 4)
        return cls(ints[:, 0], ints[:, 1], floats[:, 0], floats[:, 1], floats[:, 2], floats[:, 3])


@dataclass(frozen=True, slots=True)
class CandleEvaluation:
    detectors: tuple[str, ...]
    """The enabled detectors: each gets its rows, zeros included (silence must show)."""
    files: int
    bars: int
    """Input bars replayed (built ones are in `timeframes`)."""
    signals: list[Signal]
    days: dict[str, float]
    """Per symbol: the days its bars span (first open to last close)."""
    timeframes: TimeframePlan
    elapsed_s: float
    replay_s: float = 0.0
    """Of `elapsed_s`, the replay through the detectors (built bars included)."""
    series: dict[tuple[Market, str, str], Series] = field(default_factory=dict)
    """Every closed bar series replayed, built ones included."""
    markets: dict[str, Market] = field(default_factory=dict)
    """Per detector: the market its signals are scored on."""
    timeframes_of: dict[str, str] = field(default_factory=dict)
    """Per detector: the bar timeframe its moves are measured on."""

    def finest(self, market: Market, symbol: str) -> Series | None:
        """The shortest-interval series of (market, symbol), for prices between bar closes."""
        found = [
            s for (m, sym, _), s in self.series.items() if m == market and sym == symbol and len(s.open_ms)
        ]
        return min(found, key=lambda s: int(s.close_ms[0] - s.open_ms[0]), default=None)

    def counts(self) -> Counter[tuple[str, str]]:
        """Signals per (detector, symbol)."""
        return Counter((s.detector, s.symbol) for s in self.signals)


def evaluate_candles(
    paths: Sequence[Path], config: DetectorsConfig, market: Market | None = None
) -> CandleEvaluation:
    """Read, replay and count. Raises ValueError (one line) for unusable paths or names."""
    started = time.perf_counter()
    inputs = candle_inputs(paths, market)
    if not inputs:
        raise ValueError(f"evaluate --candles: no candle files in {', '.join(map(str, paths))}")
    prepared = prepare(inputs, BacktestOptions(detectors=config))
    replay_started = time.perf_counter()
    signals, _, bars = replay_through_engine(prepared.events, config)
    replay_s = time.perf_counter() - replay_started
    spans: dict[str, tuple[int, int]] = {}
    bars_by_series: dict[tuple[Market, str, str], list[Bar]] = defaultdict(list)
    for e in prepared.events:
        if type(e) is Bar:
            first, last = spans.get(e.symbol, (e.open_time_ms, e.close_time_ms))
            spans[e.symbol] = (min(first, e.open_time_ms), max(last, e.close_time_ms + 1))
            if e.closed:
                bars_by_series[(e.market, e.symbol, e.interval)].append(e)
    enabled = ((MOMENTUM, config.momentum.enabled), (CONFLUENCE, config.confluence.enabled),
               (RADAR, config.radar.enabled))  # fmt: skip
    return CandleEvaluation(
        detectors=tuple(name for name, on in enabled if on),
        files=len(inputs),
        bars=bars - prepared.built_bars,
        signals=signals,
        days={symbol: (end - start) / _DAY_MS for symbol, (start, end) in spans.items()},
        timeframes=prepared.timeframes,
        elapsed_s=time.perf_counter() - started,
        replay_s=replay_s,
        series={key: Series.from_bars(bars) for key, bars in bars_by_series.items()},
        markets={RADAR: Market.USDM, MOMENTUM: Market((*config.momentum.markets, "spot")[0]),
                 CONFLUENCE: Market(config.confluence.market)},
        # Radar works on rolling trade windows, not bars: its moves are measured on 5m bars.
        timeframes_of={RADAR: "5m", MOMENTUM: config.momentum.timeframe,
                       CONFLUENCE: config.confluence.intervals[-1]},
    )  # fmt: skip


def render_candle_table(evaluation: CandleEvaluation) -> Table:
    """Signals per detector and symbol, and per symbol-day; one row per pair with data."""
    title = (
        f"real candles: {evaluation.files} files, {evaluation.bars:,} bars, "
        f"{len(evaluation.days)} symbols, {evaluation.elapsed_s:.1f} s"
    )
    table = Table(title=title)
    for i, header in enumerate(("detector", "symbol", "signals", "days", "signals per symbol-day")):
        table.add_column(header, justify="left" if i < 2 else "right")
    counts = evaluation.counts()
    for detector in evaluation.detectors:
        for symbol in sorted(evaluation.days):
            n, days = counts.get((detector, symbol), 0), evaluation.days[symbol]
            per_day = f"{n / days:.2f}" if days > 0 else "-"
            table.add_row(detector, symbol, str(n), f"{days:.1f}", per_day)
    return table
