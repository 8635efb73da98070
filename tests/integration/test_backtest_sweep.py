"""A confluence threshold sweep over real candles: every grid point matches the independent count."""

from __future__ import annotations

import pytest
from test_backtest_real_data import CONFLUENCE, DETECTORS, _series_from_json, independent_confluence

from conftest import shared_data
from cryptoradar.backtest.inputs import CandleJsonInput
from cryptoradar.backtest.runner import BacktestOptions
from cryptoradar.backtest.sweep import SweepDetector, grid_points, sweep


def test_grid_points_order() -> None:
    assert grid_points({"a": (1, 2), "b": ("x", "y")}) == [
        {"a": 1, "b": "x"},
        {"a": 1, "b": "y"},
        {"a": 2, "b": "x"},
        {"a": 2, "b": "y"},
    ]


def test_confluence_sweep_counts_and_rates() -> None:
    path = shared_data() / "candles" / "XRP_ETH-1m.json"
    grid = {"min_factors": (3, 4), "volume_factor": (1.0, 2.0)}
    points = sweep(
        [CandleJsonInput(path)], BacktestOptions(detectors=DETECTORS), SweepDetector.CONFLUENCE, grid
    )
    series = _series_from_json(path, "1m")
    assert len(points) == 4
    for p in points:
        params = dict(p.params)
        expected = independent_confluence(series, CONFLUENCE.model_copy(update=params))
        assert p.signals == len(expected), params
        assert 0 < p.scored <= p.signals
        assert p.hit_rate + p.false_positive_rate <= 1.0
        assert p.ci_low <= p.hit_rate <= p.ci_high
    # Stricter settings never add signals.
    by = {tuple(v for _, v in p.params): p.signals for p in points}
    assert by[(4, 1.0)] <= by[(3, 1.0)]
    assert by[(3, 2.0)] <= by[(3, 1.0)]


def test_impossible_grid_point_fails_loudly() -> None:
    path = shared_data() / "candles" / "XRP_ETH-5m.json"
    options = BacktestOptions(detectors=DETECTORS)
    with pytest.raises(ValueError, match="ema_fast_period"):
        sweep([CandleJsonInput(path)], options, SweepDetector.CONFLUENCE, {"ema_fast_period": (30,)})
    with pytest.raises(ValueError, match="not fields"):
        sweep([CandleJsonInput(path)], options, SweepDetector.CONFLUENCE, {"volume_multiple": (2.0,)})
