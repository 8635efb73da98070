"""The real-data statistics (`evaluate --candles`) on small series whose answers are worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cryptoradar.backtest.timeframes import TimeframePlan
from cryptoradar.evaluate.candles import CandleEvaluation, Series
from cryptoradar.evaluate.real_report import RealOptions, real_options, real_report
from cryptoradar.evaluate.real_stats import (
    bar_returns,
    catches,
    mean_ci,
    rolling_sigma,
    share_below_sigma,
    significant_moves,
    summarise,
    target_before_stop,
)
from cryptoradar.events import Direction, Market, Severity, Signal

HOUR_MS = 3_600_000
T0 = 1_735_689_600_000  # 2025-01-01T00:00Z
R = np.array([np.nan, 0.01, -0.01, 0.01, -0.01, 0.06, 0.005])
"""Four +-1 % returns (sigma 0.01 exactly), then a 6-sigma bar, then an ordinary one."""


def test_returns_and_sigma_of_the_previous_bars_only() -> None:
    assert bar_returns(np.array([100.0, 101.0, 99.99])) == pytest.approx([math.nan, 0.01, -0.01], nan_ok=True)
    sigma = rolling_sigma(R, 4)
    assert np.isnan(sigma[:5]).all()  # sigma[4] would include r[0], which does not exist
    assert sigma[5] == pytest.approx(0.01)  # r[1..4], not the 6 % bar itself
    assert sigma[6] == pytest.approx(np.std([-0.01, 0.01, -0.01, 0.06]))


def test_significant_moves_need_k_sigma_and_the_floor() -> None:
    sigma = rolling_sigma(R, 4)
    assert significant_moves(R, sigma, 5.0, 0.01).tolist() == [5]
    assert significant_moves(R, sigma, 7.0, 0.01).tolist() == []  # 6 sigma is not 7
    assert significant_moves(R, sigma, 5.0, 0.10).tolist() == []  # 6 % is under a 10 % floor


def test_recall_within_zero_and_one_bar_by_direction() -> None:
    moves, move_signs = np.array([5, 10]), np.array([1, -1])
    alerts, alert_signs = np.array([6, 10, 10]), np.array([1, 1, 0])
    # Bar 10: alert 1 points the wrong way, alert 2 is neutral (agrees with both). Bar 5: only one bar late.
    assert catches(moves, move_signs, alerts, alert_signs, 0).tolist() == [-1, 2]
    assert catches(moves, move_signs, alerts, alert_signs, 1).tolist() == [0, 2]
    assert catches(
        moves, move_signs, np.array([], dtype=np.int64), np.array([], dtype=np.int64), 1
    ).tolist() == [-1, -1]


def test_share_of_alerts_on_bars_under_two_sigma() -> None:
    sigma = rolling_sigma(R, 4)
    # Bar 5 is 6 sigma, bar 6 is 0.005 / 0.0286 = 0.17 sigma, bar 2 has no sigma yet (not counted).
    assert share_below_sigma(np.array([5, 6, 2]), R, sigma, 2.0) == 0.5
    assert math.isnan(share_below_sigma(np.array([], dtype=np.int64), R, sigma, 2.0))


def test_mean_ci_is_the_normal_approximation() -> None:
    ci = mean_ci(np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    half = 1.959964 * math.sqrt(2.5) / math.sqrt(5)  # sd (ddof 1) of 1..5 is sqrt(2.5)
    assert (ci.mean, ci.low, ci.high, ci.n) == pytest.approx((3.0, 3.0 - half, 3.0 + half, 5))
    assert math.isnan(mean_ci(np.array([2.0])).low)


def test_summary_percentile() -> None:
    s = summarise(np.array([2, 0, 1]))
    assert (s.mean, s.median, s.p95, s.n) == pytest.approx((1.0, 1.0, 1.9, 3))  # p95: 1 + 0.9 * (2 - 1)


def test_target_before_stop_gross_and_net_of_fees() -> None:
    high = np.array([100.5, 101.2, 100.0, 101.5, 100.2])
    low = np.array([99.5, 100.0, 99.9, 98.5, 99.9])
    setups = [
        (0, 100.0, 99.0, 101.0, 1),  # long: bar 1 reaches 101 first -> target, 1 % pays 0.2 %
        (0, 100.0, 99.0, 100.1, 1),  # long: 100.1 on bar 0 -> target, but 0.1 % < 0.2 % round trip
        (3, 100.0, 101.0, 99.0, -1),  # short: bar 3 touches both -> stop (cannot tell which came first)
        (4, 100.0, 99.0, 101.0, 1),  # long: nothing within the horizon
    ]
    outcome = target_before_stop(high, low, setups, horizon_bars=2, fee_per_side=0.001)
    assert (outcome.target_first, outcome.stop_first, outcome.neither, outcome.net_wins) == (2, 1, 1, 1)
    assert outcome.gross_rate() == pytest.approx(2 / 3)
    assert outcome.net_rate() == pytest.approx(1 / 3)
    assert target_before_stop(high, low, setups, 2, 0.0).net_rate() == pytest.approx(2 / 3)


def signal(end_ms: int, direction: Direction) -> Signal:
    return Signal(
        "momentum", 1, "momentum", "BTCUSDT", "1h", end_ms - HOUR_MS + 1, end_ms, direction,
        Severity.INFO, (), {}, {}, ("BTCUSDT",), (end_ms + 1) * 1_000_000,
    )  # fmt: skip


def three_days() -> Series:
    """72 hourly bars, close 100 * 1.0001^i (every 1h return is 0.01 %), high/low 0.1 % off the close: a
    day ranges 1.0001^23 * 1.001 / 0.999 - 1 = 0.43 % (quiet), but day 2 has one bar to 110 (10 %, not quiet)."""
    i = np.arange(72)
    close = 100.0 * 1.0001**i
    high, low = close * 1.001, close * 0.999
    high[30] = 110.0
    open_ms = T0 + i * HOUR_MS
    return Series(open_ms, open_ms + HOUR_MS - 1, close.copy(), high, low, close)


def test_report_counts_per_symbol_day_and_quiet_days_and_forward_returns() -> None:
    bars = three_days()
    signals = [
        signal(int(bars.close_ms[0]), Direction.BULLISH),
        signal(int(bars.close_ms[10]), Direction.BEARISH),
        signal(int(bars.close_ms[50]), Direction.NEUTRAL),
    ]  # day 1: two, day 2: none, day 3: one
    evaluation = CandleEvaluation(
        ("momentum",), 1, 72, signals, {"BTCUSDT": 3.0}, TimeframePlan(), 0.0,
        series={(Market.SPOT, "BTCUSDT", "1h"): bars}, markets={"momentum": Market.SPOT},
        timeframes_of={"momentum": "1h"},
    )  # fmt: skip
    (row,) = real_report(evaluation, RealOptions(sigma_window_bars=4)).rows
    assert row.signals == 3
    assert (row.per_day.mean, row.per_day.median, row.per_day.n) == (1.0, 1.0, 3)
    assert (row.quiet_per_day.mean, row.quiet_per_day.n) == (1.5, 2)  # days 1 and 3
    alerts, random = row.forward_pct["1h"]
    assert alerts.n == 2  # the neutral alert has no side
    assert alerts.mean == pytest.approx(0.0)  # +0.01 % and -0.01 %
    assert random.n == 40  # 20 each, signed like their alert
    assert random.mean == pytest.approx(0.0)
    assert row.forward_pct["4h"][0].mean == pytest.approx(0.0)
    assert row.forward_pct["15m"][0].n == 0  # no 15m price on 1h bars: not made up
    # Scoring window: day 2 and after only -> one signal, two days.
    (late,) = real_report(evaluation, RealOptions(start_ms=T0 + 86_400_000, sigma_window_bars=4)).rows
    assert (late.signals, late.per_day.n) == (1, 2)


def test_options_from_the_command_line() -> None:
    o = real_options("2025-01-01", "2025-05-01", 0.05)
    assert (o.start_ms, o.end_ms, o.fee_pct) == (T0, 1_746_057_600_000, 0.05)
    with pytest.raises(ValueError, match="--score-from 2025-13-01: use a UTC date as YYYY-MM-DD"):
        real_options("2025-13-01", None, 0.1)
    with pytest.raises(ValueError, match="--fee-pct"):
        real_options(None, None, -1.0)
