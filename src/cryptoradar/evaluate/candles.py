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
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.table import Table

from cryptoradar.backtest.command import candle_inputs
from cryptoradar.backtest.runner import BacktestOptions, prepare, replay_through_engine
from cryptoradar.backtest.timeframes import TimeframePlan
from cryptoradar.config.detectors import DetectorsConfig
from cryptoradar.detectors.confluence import DETECTOR as CONFLUENCE
from cryptoradar.detectors.momentum import DETECTOR as MOMENTUM
from cryptoradar.detectors.radar import DETECTOR as RADAR
from cryptoradar.events import Bar, Market, Signal

__all__ = ["CandleEvaluation", "evaluate_candles", "render_candle_table"]

_DAY_MS = 86_400_000


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
    signals, _, bars = replay_through_engine(prepared.events, config)
    spans: dict[str, tuple[int, int]] = {}
    for e in prepared.events:
        if type(e) is Bar:
            first, last = spans.get(e.symbol, (e.open_time_ms, e.close_time_ms))
            spans[e.symbol] = (min(first, e.open_time_ms), max(last, e.close_time_ms + 1))
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
    )


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
