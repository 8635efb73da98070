"""Moving averages: SMA, EMA (TA-Lib or first-value seeding) and Wilder's RMA.

All three reject non-finite inputs (see `base`) and keep plain Python floats.
"""

from __future__ import annotations

import math
from enum import StrEnum

from cryptoradar.indicators.base import NAN, ScalarOutput, check_period, reject_non_finite


class SMA(ScalarOutput):
    """Simple moving average of the last `period` inputs (equal to TA-Lib SMA).

    Ready after `period` inputs. The running sum is recomputed exactly (`math.fsum`)
    each time the window wraps, so rounding error never outlives one window even after
    millions of updates or jumps of many orders of magnitude; that costs O(1) amortised.
    Between recomputes the running sum can carry the rounding of a large value that has
    left the window, so its sign is pinned by counting the window's positive and negative
    values: a window of zeros averages exactly 0.0 and one without negatives never goes
    below 0 (a zero-volume bar must not look like a spike against a "negative" average).
    """

    __slots__ = ("_count", "_index", "_negatives", "_period", "_positives", "_sum", "_window")

    def __init__(self, period: int) -> None:
        self._period = self._warmup = check_period("SMA", period)
        self._window = [0.0] * period
        self.reset()

    def _init_args(self) -> tuple[object, ...]:
        return (self._period,)

    def reset(self) -> None:
        # Zeros, so that adding `x - window[index]` is a plain add during warm-up.
        self._window[:] = [0.0] * self._period
        self._count = 0
        self._index = 0
        self._sum = 0.0
        self._positives = 0
        self._negatives = 0
        self._value = NAN

    def update(self, x: float) -> float:
        if x - x != 0.0:
            raise reject_non_finite("SMA", x)
        window = self._window
        index = self._index
        old = window[index]
        self._sum += x - old
        self._positives += (x > 0.0) - (old > 0.0)
        self._negatives += (x < 0.0) - (old < 0.0)
        if (self._negatives == 0 and self._sum < 0.0) or (self._positives == 0 and self._sum > 0.0):
            self._sum = 0.0
        window[index] = x
        index += 1
        if index == self._period:
            index = 0
            self._count = self._period
            self._sum = math.fsum(window)
        elif self._count < self._period:
            self._count += 1
        self._index = index
        if self._count == self._period:
            self._value = self._sum / self._period
        return self._value


class EmaSeed(StrEnum):
    """How an EMA gets its first value."""

    TALIB = "talib"
    """First value = SMA of the first `period` inputs (TA-Lib's default compatibility)."""
    FIRST = "first"
    """First value = the first input, like pandas `ewm(span=period, adjust=False)`."""


class EMA(ScalarOutput):
    """Exponential moving average with smoothing `k = 2 / (period + 1)`.

    `seed="talib"` (default) equals TA-Lib EMA: ready after `period` inputs, the first
    value being their SMA. `seed="first"` equals pandas `ewm(span=period, adjust=False)`:
    ready after the first input, which is also the first value.
    """

    __slots__ = ("_count", "_k", "_period", "_seed", "_sum")

    def __init__(self, period: int, seed: EmaSeed | str = EmaSeed.TALIB) -> None:
        self._period = check_period("EMA", period)
        self._seed = EmaSeed(seed)
        self._warmup = period if self._seed is EmaSeed.TALIB else 1
        self._k = 2.0 / (period + 1)
        self.reset()

    def _init_args(self) -> tuple[object, ...]:
        return (self._period, self._seed)

    def reset(self) -> None:
        self._count = 0
        self._sum = 0.0
        self._value = NAN

    def update(self, x: float) -> float:
        if x - x != 0.0:
            raise reject_non_finite("EMA", x)
        if self._value == self._value:  # seeded: the common path first
            self._value = (x - self._value) * self._k + self._value
            return self._value
        self._count += 1
        if self._seed is EmaSeed.FIRST:
            self._value = x
        else:
            self._sum += x
            if self._count == self._period:
                self._value = self._sum / self._period
        return self._value


class RMA(ScalarOutput):
    """Wilder's running moving average: `rma = (rma * (period - 1) + x) / period`.

    Seeded like TA-Lib's RSI and ATR: the first value is the SMA of the first `period`
    inputs, so it is ready after `period` inputs. Equivalent to an EMA with
    `alpha = 1 / period`; kept in Wilder's form so composites match TA-Lib bit for bit.
    """

    __slots__ = ("_count", "_period", "_sum")

    def __init__(self, period: int) -> None:
        self._period = self._warmup = check_period("RMA", period)
        self.reset()

    def _init_args(self) -> tuple[object, ...]:
        return (self._period,)

    def reset(self) -> None:
        self._count = 0
        self._sum = 0.0
        self._value = NAN

    def update(self, x: float) -> float:
        if x - x != 0.0:
            raise reject_non_finite("RMA", x)
        if self._count == self._period:
            self._value = (self._value * (self._period - 1) + x) / self._period
            return self._value
        self._count += 1
        self._sum += x
        if self._count == self._period:
            self._value = self._sum / self._period
        return self._value
