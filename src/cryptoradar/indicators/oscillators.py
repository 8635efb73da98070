"""Momentum and efficiency: RSI, rate of change and Kaufman's efficiency ratio."""

from __future__ import annotations

import math

from cryptoradar.indicators.base import NAN, ScalarOutput, check_period, reject_non_finite


class RSI(ScalarOutput):
    """Relative strength index, equal to TA-Lib RSI (Wilder smoothing, unstable period 0).

    The first value comes at update `period + 1` (the first `period` price changes,
    averaged); then gains and losses are smoothed as `(avg * (period - 1) + x) / period`.
    When there was no movement at all (average gain + average loss == 0) the RSI is 0.0,
    as in TA-Lib. Depends on where the series started, like TA-Lib's RSI.
    """

    __slots__ = ("_avg_gain", "_avg_loss", "_count", "_period", "_prev")

    def __init__(self, period: int) -> None:
        self._period = check_period("RSI", period, minimum=2)
        self._warmup = period + 1
        self.reset()

    def _init_args(self) -> tuple[object, ...]:
        return (self._period,)

    def reset(self) -> None:
        self._count = 0
        self._prev = 0.0
        self._avg_gain = 0.0
        self._avg_loss = 0.0
        self._value = NAN

    def update(self, x: float) -> float:
        if x - x != 0.0:
            raise reject_non_finite("RSI", x)
        change = x - self._prev
        self._prev = x
        period = self._period
        count = self._count
        if count > period:
            gain = self._avg_gain * (period - 1)
            loss = self._avg_loss * (period - 1)
            if change < 0.0:
                loss -= change
            else:
                gain += change
            gain /= period
            loss /= period
        else:
            self._count = count + 1
            if count == 0:
                return NAN
            # Seeding: sums of the first `period` changes, averaged at the last one.
            if change < 0.0:
                self._avg_loss -= change
            else:
                self._avg_gain += change
            if count < period:
                return NAN
            gain = self._avg_gain / period
            loss = self._avg_loss / period
        self._avg_gain = gain
        self._avg_loss = loss
        total = gain + loss
        self._value = 100.0 * (gain / total) if total != 0.0 else 0.0
        return self._value


class ROC(ScalarOutput):
    """Rate of change in percent over `period` updates: `(x / x[-period] - 1) * 100`.

    Equal to TA-Lib ROC, including its convention that a reference value of exactly 0
    gives 0.0 (not an infinity). Ready at update `period + 1`.
    """

    __slots__ = ("_count", "_index", "_period", "_window")

    def __init__(self, period: int) -> None:
        self._period = check_period("ROC", period)
        self._warmup = period + 1
        self._window = [0.0] * period
        self.reset()

    def _init_args(self) -> tuple[object, ...]:
        return (self._period,)

    def reset(self) -> None:
        self._count = 0
        self._index = 0
        self._value = NAN

    def update(self, x: float) -> float:
        if x - x != 0.0:
            raise reject_non_finite("ROC", x)
        index = self._index
        if self._count >= self._period:
            reference = self._window[index]
            self._value = (x / reference - 1.0) * 100.0 if reference != 0.0 else 0.0
            self._count = self._period + 1
        else:
            self._count += 1
        self._window[index] = x
        index += 1
        self._index = 0 if index == self._period else index
        return self._value


class EfficiencyRatio(ScalarOutput):
    """Kaufman's efficiency ratio over `period` changes, in [0, 1].

    `ER = |x - x[-period]| / sum(|x[i] - x[i-1]|)` over the last `period` changes: 1 for a
    straight move, near 0 for back-and-forth noise. A window with no movement at all
    gives 0.0 (no trend). Ready at update `period + 1`; unlike ADX it depends only on the
    last `period + 1` inputs, never on where the series started.
    """

    __slots__ = ("_changes", "_count", "_index", "_path", "_period", "_prev", "_window")

    def __init__(self, period: int) -> None:
        self._period = check_period("EfficiencyRatio", period)
        self._warmup = period + 1
        self._window = [0.0] * period
        self._changes = [0.0] * period
        self.reset()

    def _init_args(self) -> tuple[object, ...]:
        return (self._period,)

    def reset(self) -> None:
        # Zeros, so that the first update (which has no change) adds nothing to the path.
        self._changes[:] = [0.0] * self._period
        self._count = 0
        self._index = 0
        self._prev = 0.0
        self._path = 0.0
        self._value = NAN

    def update(self, x: float) -> float:
        if x - x != 0.0:
            raise reject_non_finite("EfficiencyRatio", x)
        index = self._index
        change = abs(x - self._prev) if self._count else 0.0
        self._prev = x
        self._path += change - self._changes[index]
        self._changes[index] = change
        reference = self._window[index]
        self._window[index] = x
        index += 1
        if index == self._period:
            index = 0
            # Exact re-sum once per window: rounding never outlives one window.
            self._path = math.fsum(self._changes)
        self._index = index
        if self._count < self._period:
            self._count += 1
            return NAN
        self._count = self._period + 1
        path = self._path
        # min(): direction <= path in exact arithmetic; rounding must not push ER past 1.
        self._value = min(abs(x - reference) / path, 1.0) if path > 0.0 else 0.0
        return self._value
