"""Range and dispersion: true range, ATR, rolling mean/std and the z-score."""

from __future__ import annotations

import math
from typing import Final

from cryptoradar.indicators.base import NAN, ScalarOutput, check_period, reject_non_finite

# RollingStats recomputes from its window when the running sum of squares falls below this
# fraction of its peak since the last recompute: that is when the rounding error left by
# values that have since left the window would start to show (catastrophic cancellation).
_CANCELLATION_RATIO: Final = 1e-4


def true_range(high: float, low: float, prev_close: float) -> float:
    """Wilder's true range: the bar's range extended to the previous close (as TA-Lib TRANGE)."""
    greatest = high - low
    up = abs(prev_close - high)
    if up > greatest:
        greatest = up
    down = abs(prev_close - low)
    if down > greatest:
        greatest = down
    return greatest


class TrueRange(ScalarOutput):
    """True range of each bar (equal to TA-Lib TRANGE).

    The first bar has no previous close, so like TA-Lib it yields `nan`; ready from the
    second bar on.
    """

    __slots__ = ("_prev_close",)

    def __init__(self) -> None:
        self._warmup = 2
        self.reset()

    def _init_args(self) -> tuple[object, ...]:
        return ()

    def reset(self) -> None:
        self._prev_close = NAN
        self._value = NAN

    def update(self, high: float, low: float, close: float) -> float:
        if high - high != 0.0 or low - low != 0.0 or close - close != 0.0:
            raise reject_non_finite("TrueRange", high, low, close)
        if self._prev_close == self._prev_close:
            self._value = true_range(high, low, self._prev_close)
        self._prev_close = close
        return self._value


class ATR(ScalarOutput):
    """Average true range, equal to TA-Lib ATR with its default unstable period of 0.

    True ranges start at the second bar; the first ATR is the SMA of the first `period`
    of them, then Wilder smoothing (`RMA`). So ATR is ready at bar `period + 1` (index
    `period`). Because of that recursive seed, the value depends on where the series
    started (TA-Lib's "unstable period"): it matches TA-Lib run over the same bars from
    the same first bar.
    """

    __slots__ = ("_count", "_period", "_prev_close", "_sum")

    def __init__(self, period: int) -> None:
        self._period = check_period("ATR", period)
        self._warmup = period + 1
        self.reset()

    def _init_args(self) -> tuple[object, ...]:
        return (self._period,)

    def reset(self) -> None:
        self._prev_close = NAN
        self._count = 0
        self._sum = 0.0
        self._value = NAN

    def update(self, high: float, low: float, close: float) -> float:
        if high - high != 0.0 or low - low != 0.0 or close - close != 0.0:
            raise reject_non_finite("ATR", high, low, close)
        prev_close = self._prev_close
        self._prev_close = close
        if prev_close != prev_close:
            return NAN
        tr = true_range(high, low, prev_close)
        # `RMA.update` written out: ATR runs on every bar of every bar detector, and the nested call
        # cost more than its arithmetic. The operations and their order are the same as RMA's.
        period = self._period
        if self._count == period:
            self._value = (self._value * (period - 1) + tr) / period
        else:
            self._count += 1
            self._sum += tr
            if self._count == period:
                self._value = self._sum / period
        return self._value


class RollingStats(ScalarOutput):
    """Mean, variance and standard deviation of the last `period` inputs.

    `ddof=0` gives the population statistics (TA-Lib STDDEV with `nbdev=1`, numpy's
    default); `ddof=1` the sample statistics (divide by `period - 1`). `value` is the
    mean; all outputs are `nan` until `period` inputs were seen.

    Numerics: Welford's add/remove update, plus an exact two-pass recompute over the
    window every `period` updates (O(1) amortised) and whenever the sum of squared
    deviations collapses below `_CANCELLATION_RATIO` of its recent peak. So the error
    stays at rounding level over millions of updates and a window that has become
    flat reports a standard deviation of exactly 0. The update runs on `x - shift`, the
    shift being the window's mean at the last recompute: on a near-flat series (a price
    of 0.03 moving by 1e-7) unshifted updates lose the digits of the spread against the
    price level (4.8e-8 relative error); shifted, the error is relative to the spread
    itself (within 1e-9 of exact on real 1m candles, tests/unit/indicators).
    """

    __slots__ = (
        "_count", "_ddof", "_index", "_m2", "_mean", "_peak_m2", "_period", "_shift", "_window",
    )  # fmt: skip

    def __init__(self, period: int, ddof: int = 0) -> None:
        if isinstance(ddof, bool) or not isinstance(ddof, int) or ddof < 0:
            raise ValueError(f"RollingStats: ddof must be an int >= 0, got {ddof!r}")
        self._period = self._warmup = check_period("RollingStats", period, minimum=ddof + 1)
        self._ddof = ddof
        self._window = [0.0] * period
        self.reset()

    def _init_args(self) -> tuple[object, ...]:
        return (self._period, self._ddof)

    def reset(self) -> None:
        self._count = 0
        self._index = 0
        self._shift = 0.0
        self._mean = 0.0  # of the shifted values `x - _shift`
        self._m2 = 0.0
        self._peak_m2 = 0.0
        self._value = NAN  # the mean, once ready

    @property
    def mean(self) -> float:
        """Same as `value`."""
        return self._value

    @property
    def variance(self) -> float:
        if self._count != self._period:
            return NAN
        return self._m2 / (self._period - self._ddof)

    @property
    def std(self) -> float:
        if self._count != self._period:
            return NAN
        return math.sqrt(self._m2 / (self._period - self._ddof))

    def zscore(self, x: float) -> float:
        """`(x - mean) / std` against the current window; 0.0 when the window is flat."""
        if self._count != self._period:
            return NAN
        if self._m2 == 0.0:
            return 0.0
        return (x - self._shift - self._mean) / math.sqrt(self._m2 / (self._period - self._ddof))

    def update(self, x: float) -> float:
        if x - x != 0.0:
            raise reject_non_finite("RollingStats", x)
        window = self._window
        index = self._index
        mean = self._mean
        if self._count == 0:
            self._shift = x
        shift = self._shift
        shifted = x - shift
        if self._count == self._period:
            old = window[index] - shift
            delta = x - window[index]
            new_mean = mean + delta / self._period
            self._m2 += delta * (shifted - new_mean + old - mean)
        else:
            self._count += 1
            delta = shifted - mean
            new_mean = mean + delta / self._count
            self._m2 += delta * (shifted - new_mean)
        self._mean = new_mean
        window[index] = x
        index += 1
        if index == self._period:
            index = 0
            self._recompute()
        elif self._m2 < self._peak_m2 * _CANCELLATION_RATIO:
            self._recompute()
        elif self._m2 > self._peak_m2:
            self._peak_m2 = self._m2
        self._index = index
        if self._count == self._period:
            self._value = self._shift + self._mean  # _recompute may have moved the shift
        return self._value

    def _recompute(self) -> None:
        """Exact two-pass statistics over the values currently in the window."""
        values = self._window[: self._count]
        if min(values) == max(values):
            # fsum(values) / count can be off by an ulp, which would give a flat window a
            # tiny spread and its z-scores a magnitude of 1; flat must mean exactly 0.
            self._shift = values[0]
            self._mean = 0.0
            self._m2 = 0.0
        else:
            shift = self._shift = math.fsum(values) / self._count
            # v - shift is exact for values within a factor 2 of the mean (Sterbenz).
            shifted = [v - shift for v in values]
            mean = self._mean = math.fsum(shifted) / self._count
            self._m2 = math.fsum([(v - mean) * (v - mean) for v in shifted])
        self._peak_m2 = self._m2


class ZScore(ScalarOutput):
    """Z-score of each new input against a rolling window of `period` inputs.

    `include_current=False` (default): the new input is compared with the *previous*
    `period` inputs, so a spike cannot dampen its own score (volume spikes: this bar's
    volume against the last N bars). Ready at update `period + 1`.
    `include_current=True`: the window includes the new input. Ready at update `period`.
    `ddof` selects population (0) or sample (1) standard deviation. A flat window
    (standard deviation 0) gives a z-score of 0.0, never an infinity.
    `reference_mean` is the mean the latest input was compared with (nan until ready).
    """

    __slots__ = ("_include_current", "_reference_mean", "_stats")

    def __init__(self, period: int, ddof: int = 0, include_current: bool = False) -> None:
        self._stats = RollingStats(period, ddof)
        self._include_current = include_current
        self._warmup = period if include_current else period + 1
        self._value = NAN
        self._reference_mean = NAN

    @property
    def reference_mean(self) -> float:
        return self._reference_mean

    def _init_args(self) -> tuple[object, ...]:
        return (self._stats._period, self._stats._ddof, self._include_current)

    def reset(self) -> None:
        self._stats.reset()
        self._value = NAN
        self._reference_mean = NAN

    def update(self, x: float) -> float:
        stats = self._stats
        if self._include_current:
            stats.update(x)  # rejects a non-finite x before anything changes
            self._value = stats.zscore(x)
            if self._value == self._value:
                self._reference_mean = stats._value
        elif stats._count == stats._period:
            # `stats.zscore(x)` written out against the previous window: the volume gate of every bar.
            m2 = stats._m2
            shift = stats._shift
            mean = stats._mean
            z = (x - shift - mean) / math.sqrt(m2 / (stats._period - stats._ddof)) if m2 != 0.0 else 0.0
            stats.update(x)
            self._value = z
            self._reference_mean = shift + mean
        else:
            stats.update(x)
        return self._value
