"""Child process for test_compiled.py: every detector over fixed inputs, signals as JSON on stdout.

Run once as built (compiled) and once with CRYPTORADAR_PURE_PYTHON=1; the parent compares the two.
Inputs: a seeded simulator run (momentum, confluence and the futures radar all fire; the simulator's
own planning deep-copies indicators), the real XRP/ETH candles and a real USD-M recording.
"""

from __future__ import annotations

import sys
from pathlib import Path

import msgspec
import structlog

from cryptoradar.backtest.inputs import CandleJsonInput, RecordingInput
from cryptoradar.backtest.runner import BacktestOptions, run_backtest
from cryptoradar.compiled import compiled_in_use
from cryptoradar.config.detectors import ConfluenceConfig, DetectorsConfig, MomentumConfig
from cryptoradar.detectors import DetectorSet
from cryptoradar.evaluate.feed import FeedOptions, ScenarioFeed
from cryptoradar.events import Signal


def simulator_signals() -> list[Signal]:
    feed = ScenarioFeed(FeedOptions(seed=3, symbols=30, futures_symbols=4, days=0.5))
    engine = DetectorSet(DetectorsConfig())
    signals = [s for e in feed.events() for s in engine.on_event(e)]
    return signals + engine.flush()


def real_data_signals(data: Path) -> list[Signal]:
    config = DetectorsConfig(
        momentum=MomentumConfig(timeframe="1m", trend_timeframes=("5m",), min_quote_volume=0.0),
        confluence=ConfluenceConfig(symbols=("XRPETH", "XRPUSDT"), intervals=("1m", "5m")),
    )
    candles = [CandleJsonInput(data / "candles" / f"XRP_ETH-{iv}.json") for iv in ("1m", "5m")]
    recording = [RecordingInput(data / "ws" / "usdm-session-1.txt")]
    return [
        *run_backtest(candles, BacktestOptions(detectors=config)).signals,
        *run_backtest(recording, BacktestOptions(detectors=DetectorsConfig())).signals,
    ]


def main() -> None:
    # stdout carries the signals; the backtest's warnings (e.g. a detector that can never fire) go to stderr.
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    data = Path(sys.argv[1])
    out = {"compiled": compiled_in_use(), "signals": simulator_signals() + real_data_signals(data)}
    sys.stdout.buffer.write(msgspec.json.encode(out))


if __name__ == "__main__":
    main()
