"""`evaluate --candles` on all of ../shared/data/real: bars/s through the detectors, and the whole process.

Run: `.venv/bin/python -m benchmarks evaluate_real` (needs pyarrow and ../shared/data/real). Times, on one
core: loading plus resampling plus the replay through a fresh `DetectorSet` (`evaluate.candles`), the
replay alone (bars replayed, built ones included, per second: the issue asks for above 250k), the
statistics of the training split (`evaluate.real_report`), and `cryptoradar evaluate --candles` as a child
process end to end (imports, rendering, JSON). Numbers go to docs/performance.md.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cryptoradar.config.detectors import DetectorsConfig
from cryptoradar.evaluate.candles import evaluate_candles
from cryptoradar.evaluate.real_report import real_options, real_report

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
TRAINING = ("2025-01-01", "2025-05-01")


def main() -> None:
    if not REAL.is_dir():
        sys.exit(f"bench_evaluate_real: {REAL} is missing")
    evaluation = evaluate_candles([REAL], DetectorsConfig())
    replayed = evaluation.bars + sum(n for n, _ in evaluation.timeframes.built.values())
    started = time.perf_counter()
    report = real_report(evaluation, real_options(*TRAINING, 0.1))
    stats_s = time.perf_counter() - started
    print(f"files {evaluation.files}, input bars {evaluation.bars:,}, replayed bars {replayed:,}, "
          f"signals {len(evaluation.signals):,}, report rows {len(report.rows)}")  # fmt: skip
    print(f"load + resample + replay: {evaluation.elapsed_s:.2f} s "
          f"({evaluation.bars / evaluation.elapsed_s:,.0f} input bars/s)")  # fmt: skip
    print(
        f"replay through the detectors: {evaluation.replay_s:.2f} s ({replayed / evaluation.replay_s:,.0f} bars/s)"
    )
    print(f"statistics (training split): {stats_s:.2f} s")
    with tempfile.TemporaryDirectory() as tmp:
        cli = Path(sys.executable).with_name("cryptoradar")
        args = [str(cli), "evaluate", "--candles", str(REAL), "--score-from", TRAINING[0],
                "--score-to", TRAINING[1], "--json", str(Path(tmp) / "report.json")]  # fmt: skip
        started = time.perf_counter()
        subprocess.run(args, check=True, capture_output=True)
        print(f"cryptoradar evaluate --candles (whole process): {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()
