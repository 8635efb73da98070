"""Indicators TA-Lib lacks (or computes differently), against independent numpy/direct references."""

from __future__ import annotations

import numpy as np
import pytest
from indicator_series import F64, REAL_CANDLE_FILES, Candles, random_walk, real_candles
from numpy.lib.stride_tricks import sliding_window_view

from cryptoradar.indicators import EMA, RMA, VWAP, EfficiencyRatio, RollingStats, ZScore

SERIES = [*REAL_CANDLE_FILES, "random-walk"]
DAY_MS = 86_400_000


def candles(name: str) -> Candles:
    return random_walk() if name == "random-walk" else real_candles(name)


def leading_nan(values: F64, count: int) -> F64:
    return np.concatenate((np.full(count, np.nan), values))


def assert_same(ours: list[float], reference: F64, rtol: float, atol: float) -> None:
    np.testing.assert_allclose(np.array(ours), reference, rtol=rtol, atol=atol, equal_nan=True)


def vwap_reference(c: Candles, session_ms: int, offset_ms: int) -> F64:
    """Cumulative typical-price x volume over cumulative volume, per session (numpy, vectorised)."""
    typical = (c.high + c.low + c.close) / 3.0
    session = (c.open_ms - offset_ms) // session_ms
    out = np.full(len(typical), np.nan)
    for key in np.unique(session):
        rows = session == key
        cum_v = np.cumsum(c.volume[rows])
        cum_pv = np.cumsum(typical[rows] * c.volume[rows])
        with np.errstate(invalid="ignore", divide="ignore"):
            out[rows] = np.where(cum_v > 0.0, cum_pv / cum_v, np.nan)
    return out


@pytest.mark.parametrize("name", SERIES)
@pytest.mark.parametrize(("session_ms", "offset_ms"), [(DAY_MS, 0), (4 * 3_600_000, 30 * 60_000)])
def test_vwap_equals_numpy_per_session(name: str, session_ms: int, offset_ms: int) -> None:
    c = candles(name)
    assert len(np.unique((c.open_ms - offset_ms) // session_ms)) >= 2, "series must cross a session boundary"
    vwap = VWAP(session_ms=session_ms, offset_ms=offset_ms)
    ours = [
        vwap.update(h, lo, cl, v, int(ts))
        for h, lo, cl, v, ts in zip(c.high, c.low, c.close, c.volume, c.open_ms, strict=True)
    ]
    assert_same(ours, vwap_reference(c, session_ms, offset_ms), rtol=1e-9, atol=0.0)


@pytest.mark.parametrize("name", ["XRP_ETH-1m.json", "random-walk"])
@pytest.mark.parametrize("ddof", [0, 1])
@pytest.mark.parametrize("period", [2, 20, 60])
def test_rolling_stats_equal_numpy(name: str, ddof: int, period: int) -> None:
    values = candles(name).volume
    windows = sliding_window_view(values, period)
    stats = RollingStats(period, ddof=ddof)
    means, stds = [], []
    for x in values.tolist():
        means.append(stats.update(x))
        stds.append(stats.std)
    scale = float(np.max(values)) * 1e-12
    assert_same(means, leading_nan(windows.mean(axis=1), period - 1), rtol=1e-9, atol=scale)
    assert_same(stds, leading_nan(windows.std(axis=1, ddof=ddof), period - 1), rtol=1e-9, atol=scale)


@pytest.mark.parametrize("ddof", [0, 1])
@pytest.mark.parametrize("include_current", [False, True])
def test_zscore_equals_numpy(ddof: int, include_current: bool) -> None:
    values = random_walk().volume  # zero-volume bars included
    period = 20
    zscore = ZScore(period, ddof=ddof, include_current=include_current)
    ours, reference_means = [], []
    for x in values.tolist():
        ours.append(zscore.update(x))
        reference_means.append(zscore.reference_mean)
    if include_current:
        windows, current, skip = sliding_window_view(values, period), values[period - 1 :], period - 1
    else:
        windows, current, skip = sliding_window_view(values[:-1], period), values[period:], period
    reference = (current - windows.mean(axis=1)) / windows.std(axis=1, ddof=ddof)
    assert_same(ours, leading_nan(reference, skip), rtol=1e-9, atol=1e-12)
    scale = float(np.max(values)) * 1e-12
    assert_same(reference_means, leading_nan(windows.mean(axis=1), skip), rtol=1e-9, atol=scale)


@pytest.mark.parametrize("name", SERIES)
@pytest.mark.parametrize("period", [1, 10, 30])
def test_efficiency_ratio_equals_direct_formula(name: str, period: int) -> None:
    close = candles(name).close
    er = EfficiencyRatio(period)
    ours = [er.update(x) for x in close.tolist()]
    reference = [np.nan] * period
    for t in range(period, len(close)):
        path = sum(abs(close[i] - close[i - 1]) for i in range(t - period + 1, t + 1))
        reference.append(abs(close[t] - close[t - period]) / path if path > 0 else 0.0)
    assert_same(ours, np.array(reference), rtol=1e-9, atol=1e-12)
    assert all(0.0 <= v <= 1.0 for v in ours[period:])


@pytest.mark.parametrize("period", [1, 9, 50])
def test_ema_first_seed_equals_pandas_style_recursion(period: int) -> None:
    """pandas `ewm(span=period, adjust=False).mean()`: y0 = x0, y = (1 - a) * y + a * x."""
    close = real_candles("XRP_USDT_USDT-5m-futures.json").close.tolist()
    alpha = 2.0 / (period + 1)
    reference = [close[0]]
    for x in close[1:]:
        reference.append((1.0 - alpha) * reference[-1] + alpha * x)
    ema = EMA(period, seed="first")
    assert_same([ema.update(x) for x in close], np.array(reference), rtol=1e-12, atol=0.0)


@pytest.mark.parametrize("period", [1, 14])
def test_rma_equals_wilder_recursion(period: int) -> None:
    close = random_walk().close.tolist()
    reference = [np.nan] * (period - 1) + [sum(close[:period]) / period]
    for x in close[period:]:
        reference.append((reference[-1] * (period - 1) + x) / period)
    rma = RMA(period)
    assert_same([rma.update(x) for x in close], np.array(reference), rtol=1e-12, atol=0.0)
