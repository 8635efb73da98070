"""Precision over many simulator seeds (issue 13, item 6): the pooled figure can hide bad seeds (confluence
fell to 0.80 on seed 101), so every detector's per-seed precision must hold at the 10th percentile of 20
seeds, none of them a tuning seed. About 70 s on 2 workers (one seed: about 6 s from source).

Measured (docs/signal-quality.md, "Precision across seeds"): 10th percentile momentum 0.925, futures
radar 0.937, confluence 0.857 (median 0.900): confluence does not meet the bar yet.
"""

from __future__ import annotations

import numpy as np
import pytest

from cryptoradar.evaluate import TUNING_SEEDS, EvaluationReport, evaluate_command

SEEDS = (101, 202, 303, *range(401, 418))
"""101, 202, 303: the seeds the issue found confluence weak on; then 17 more never used for tuning."""
MIN_PRECISION_P10 = 0.9

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def many_seeds() -> EvaluationReport:
    return evaluate_command(list(SEEDS), symbols=300, days=1.0, workers=2)


def precision_by_seed(report: EvaluationReport, detector: str) -> list[float]:
    return [r.counts[(detector, "*")].precision for r in report.per_seed]


def test_twenty_held_out_seeds_ran(many_seeds: EvaluationReport) -> None:
    assert len(set(many_seeds.seeds)) >= 20
    assert not set(many_seeds.seeds) & set(TUNING_SEEDS)
    for detector in ("momentum", "confluence", "futures_radar"):
        signals = [r.counts[(detector, "*")].signals for r in many_seeds.per_seed]
        assert min(signals) >= 20, (detector, signals)  # a precision per seed needs a sample


@pytest.mark.parametrize(
    "detector",
    [
        "momentum",
        "futures_radar",
        pytest.param(
            "confluence",
            marks=pytest.mark.xfail(
                strict=True,
                reason="p10 0.857: setups 6-20 min before a planted turn's label (issue 13, open)",
            ),
        ),
    ],
)
def test_precision_holds_at_the_10th_percentile_of_seeds(many_seeds: EvaluationReport, detector: str) -> None:
    precision = precision_by_seed(many_seeds, detector)
    p10 = float(np.percentile(precision, 10))
    assert p10 >= MIN_PRECISION_P10, f"{detector}: p10 {p10:.3f}, per seed {[round(p, 3) for p in precision]}"
