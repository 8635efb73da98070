"""Equality with TA-Lib on real Binance candles, a random walk and the simulator's market model.

Each indicator runs over the whole series from its first bar, as TA-Lib does, so the
recursive ones (EMA, RSI, ATR, ADX) start from the same point; their outputs must agree
from TA-Lib's first output on, and be nan (not ready) exactly where TA-Lib's are nan.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np
import pytest
import talib
from indicator_series import F64, REAL_CANDLE_FILES, Candles, random_walk, real_candles, sim_candles

from cryptoradar.indicators import ADX, ATR, EMA, ROC, RSI, SMA, RollingStats, TrueRange

RELATIVE_TOLERANCE = 1e-9
ABSOLUTE_TOLERANCE = 1e-12  # near zero, in the output's unit (price units scaled by the price level)


SIM_RANKS = (0, 5)  # BTCUSDT (price ~87,000) and DOGEUSDT (~0.3)


@cache
def simulated() -> dict[str, Candles]:
    return {c.name: c for c in sim_candles(SIM_RANKS)}


@cache
def candles(name: str) -> Candles:
    if name == "random-walk":
        return random_walk()
    if name.startswith("sim-"):
        return simulated()[name]
    return real_candles(name)


def run_single(make: Callable[[], SMA | EMA | RSI | ROC], values: F64) -> F64:
    indicator = make()
    outputs = [indicator.update(x) for x in values.tolist()]
    return np.array(outputs)


def run_bars(make: Callable[[], TrueRange | ATR | ADX], c: Candles) -> F64:
    indicator = make()
    bars = zip(c.high.tolist(), c.low.tolist(), c.close.tolist(), strict=True)
    return np.array([indicator.update(h, lo, cl) for h, lo, cl in bars])


def run_stddev(period: int, nbdev: float, values: F64) -> F64:
    stats = RollingStats(period, ddof=0)
    outputs = []
    for x in values.tolist():
        stats.update(x)
        outputs.append(stats.std * nbdev)
    return np.array(outputs)


def assert_equal_to_talib(ours: F64, reference: F64, scale: float) -> None:
    """Same readiness (nan pattern) and the same values within the tolerances."""
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(reference), err_msg="readiness differs")
    ready = ~np.isnan(reference)
    assert ready.sum() > 0
    np.testing.assert_allclose(
        ours[ready], reference[ready], rtol=RELATIVE_TOLERANCE, atol=ABSOLUTE_TOLERANCE * scale
    )


SERIES = [*REAL_CANDLE_FILES, "random-walk", "sim-BTCUSDT", "sim-DOGEUSDT"]
PERIODS = [2, 6, 14, 50]


@pytest.mark.parametrize("period", PERIODS)
@pytest.mark.parametrize("name", SERIES)
def test_close_based_indicators_equal_talib(name: str, period: int) -> None:
    c = candles(name)
    price = c.price_scale
    assert_equal_to_talib(run_single(lambda: SMA(period), c.close), talib.SMA(c.close, period), price)
    assert_equal_to_talib(run_single(lambda: EMA(period), c.close), talib.EMA(c.close, period), price)
    assert_equal_to_talib(run_single(lambda: RSI(period), c.close), talib.RSI(c.close, period), 1.0)
    assert_equal_to_talib(run_single(lambda: ROC(period), c.close), talib.ROC(c.close, period), 1.0)
    for nbdev in (1.0, 2.0):
        assert_equal_to_talib(run_stddev(period, nbdev, c.close), talib.STDDEV(c.close, period, nbdev), price)


@pytest.mark.parametrize("period", PERIODS)
@pytest.mark.parametrize("name", SERIES)
def test_bar_based_indicators_equal_talib(name: str, period: int) -> None:
    c = candles(name)
    assert_equal_to_talib(
        run_bars(lambda: ATR(period), c), talib.ATR(c.high, c.low, c.close, period), c.price_scale
    )
    assert_equal_to_talib(run_bars(lambda: ADX(period), c), talib.ADX(c.high, c.low, c.close, period), 1.0)


@pytest.mark.parametrize("name", SERIES)
def test_true_range_and_volume_average_equal_talib(name: str) -> None:
    c = candles(name)
    assert_equal_to_talib(run_bars(TrueRange, c), talib.TRANGE(c.high, c.low, c.close), c.price_scale)
    volume_scale = float(np.median(c.volume))
    assert_equal_to_talib(run_single(lambda: SMA(20), c.volume), talib.SMA(c.volume, 20), volume_scale)


@pytest.mark.parametrize("exponent", [-40, -20, 0, 20])
def test_adx_and_rsi_are_scale_free_like_talib(exponent: int) -> None:
    """Prices far from 1 (PEPE-like 1e-12 or 1e6): no absolute epsilon freezes the output."""
    c = real_candles("XRP_ETH-1m.json")
    scale = 2.0**exponent  # a power of two scales every price exactly, keeping ties
    scaled = Candles(c.name, c.open_ms, c.high * scale, c.low * scale, c.close * scale, c.volume)
    assert_equal_to_talib(
        run_bars(lambda: ADX(14), scaled), talib.ADX(scaled.high, scaled.low, scaled.close, 14), 1.0
    )
    assert_equal_to_talib(run_single(lambda: RSI(14), scaled.close), talib.RSI(c.close, 14), 1.0)


def test_ema_equals_talib_when_started_mid_series() -> None:
    """The unstable period: both sides restarted at the same bar agree again from there."""
    c = real_candles("XRP_USDT_USDT-5m-futures.json")
    tail = c.close[700:]
    assert_equal_to_talib(run_single(lambda: EMA(21), tail), talib.EMA(tail, 21), c.price_scale)
    started_earlier = talib.EMA(c.close, 21)[700:]
    assert not np.allclose(talib.EMA(tail, 21)[20:40], started_earlier[20:40], rtol=1e-12, atol=0.0)
