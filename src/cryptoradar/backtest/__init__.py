"""Backtesting with live parity: archives, candle files and recordings through the live `DetectorSet`,
every signal scored (forward returns, MFE/MAE, target versus stop), hit rates with Wilson intervals,
an offline HTML report and parameter sweeps. See docs/backtest.md.
"""

from cryptoradar.backtest.candles import CandleCache
from cryptoradar.backtest.inputs import (
    ArchiveInput,
    BacktestInput,
    CacheInput,
    CandleJsonInput,
    RecordingInput,
)
from cryptoradar.backtest.runner import BacktestOptions, BacktestResult, run_backtest
from cryptoradar.backtest.stats import HitRate, HitRateTable, SignalOutcome

__all__ = [
    "ArchiveInput",
    "BacktestInput",
    "BacktestOptions",
    "BacktestResult",
    "CacheInput",
    "CandleCache",
    "CandleJsonInput",
    "HitRate",
    "HitRateTable",
    "RecordingInput",
    "SignalOutcome",
    "run_backtest",
]
