"""Trend strength: Wilder's ADX, exactly as TA-Lib computes it."""

from __future__ import annotations

from cryptoradar.indicators.base import NAN, ScalarOutput, check_period, reject_non_finite
from cryptoradar.indicators.volatility import true_range


class ADX(ScalarOutput):
    """Average directional index, equal to TA-Lib ADX (unstable period 0).

    Per bar from the second on: +DM / -DM (only the larger of the up and down move counts,
    and only if positive) and the true range. TA-Lib's seeding, kept exactly: sums of the
    first `period - 1` bars' DM and TR, then Wilder smoothing in sum form
    (`s = s - s / period + x`); DX = 100 * |+DI - -DI| / (+DI + -DI); the first ADX is the
    mean of the first `period` DX values (bars `period` .. `2 * period - 1`), then
    `adx = (adx * (period - 1) + dx) / period`. Ready at bar `2 * period` (index
    `2 * period - 1`). Like TA-Lib, a bar whose smoothed TR or DI sum is zero contributes
    no DX (the ADX is held). The test is exact, so the ADX is scale-free: old TA-Lib 0.4
    used an absolute 1e-8 band there, which froze ADX on assets priced below ~1e-4; the
    TA-Lib this project tests against matches the exact test at every scale. The value
    depends on where the series started (TA-Lib's "unstable period").
    """

    __slots__ = (
        "_count",
        "_minus_dm",
        "_period",
        "_plus_dm",
        "_prev_close",
        "_prev_high",
        "_prev_low",
        "_sum_dx",
        "_tr",
    )

    def __init__(self, period: int) -> None:
        self._period = check_period("ADX", period, minimum=2)
        self._warmup = 2 * period
        self.reset()

    def _init_args(self) -> tuple[object, ...]:
        return (self._period,)

    def reset(self) -> None:
        self._count = 0
        self._prev_high = 0.0
        self._prev_low = 0.0
        self._prev_close = 0.0
        self._plus_dm = 0.0
        self._minus_dm = 0.0
        self._tr = 0.0
        self._sum_dx = 0.0
        self._value = NAN

    def update(self, high: float, low: float, close: float) -> float:
        if high - high != 0.0 or low - low != 0.0 or close - close != 0.0:
            raise reject_non_finite("ADX", high, low, close)
        # Directional movement and DX are written out rather than called: ADX runs on every bar of the
        # momentum detector, and the calls cost more than their arithmetic.
        count = self._count
        period = self._period
        up = high - self._prev_high
        down = self._prev_low - low
        tr = true_range(high, low, self._prev_close)
        self._prev_high = high
        self._prev_low = low
        self._prev_close = close
        # Directional movement: only the larger move counts, and only if positive (adding 0.0 to the
        # non-negative sums leaves them bit for bit unchanged).
        plus_move = minus_move = 0.0
        if down > 0.0 and up < down:
            minus_move = down
        elif up > 0.0 and up > down:
            plus_move = up
        if count < period:  # bar 0 only stores; bars 1 .. period-1 build the seed sums
            self._count = count + 1
            if count:
                self._plus_dm += plus_move
                self._minus_dm += minus_move
                self._tr += tr
            return NAN
        plus_dm = self._plus_dm
        minus_dm = self._minus_dm
        plus_dm = self._plus_dm = plus_dm - plus_dm / period + plus_move
        minus_dm = self._minus_dm = minus_dm - minus_dm / period + minus_move
        tr_sum = self._tr = self._tr - self._tr / period + tr
        # This bar's DX, or nan when TA-Lib would skip it (zero TR or zero DI sum).
        dx = NAN
        if tr_sum != 0.0:
            minus_di = 100.0 * (minus_dm / tr_sum)
            plus_di = 100.0 * (plus_dm / tr_sum)
            di_sum = minus_di + plus_di
            if di_sum != 0.0:
                dx = 100.0 * (abs(minus_di - plus_di) / di_sum)
        if count < 2 * period:
            self._count = count + 1
            if dx == dx:
                self._sum_dx += dx
            if count + 1 < 2 * period:
                return NAN
            self._value = self._sum_dx / period
        elif dx == dx:
            self._value = (self._value * (period - 1) + dx) / period
        return self._value
