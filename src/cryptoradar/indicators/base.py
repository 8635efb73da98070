"""The one contract every incremental indicator keeps, and the shared input policy.

Contract (see `docs/indicators.md`):

- `update(...)` consumes one input (a value, or one bar) in O(1) amortised time and
  returns the new `value`.
- `value` is `math.nan` until `ready` is true; afterwards it is a finite float.
- `reset()` returns the indicator to the state it had right after construction, so
  replaying a series after `reset()` yields exactly the same outputs.
- Memory is bounded by the period (a fixed-size window at most).

Input policy: non-finite inputs (NaN, +inf, -inf) are rejected with
`NonFiniteInputError` (a `ValueError`) *before* any state changes, so the indicator
behaves as if the bad input had never been offered. The detector layer catches it,
counts the bad bar and moves on.
"""

from __future__ import annotations

import math
from typing import Final

NAN: Final = math.nan


class NonFiniteInputError(ValueError):
    """An indicator was offered NaN or an infinity; its state is unchanged."""


def reject_non_finite(indicator: str, *values: float) -> NonFiniteInputError:
    """Build the error for a non-finite input (the caller raises it).

    Hot paths test `x - x != 0.0` inline (true exactly for NaN and +-inf, and cheaper than
    a call to `math.isfinite`) and only call this on the rare bad input.
    """
    return NonFiniteInputError(f"{indicator}: non-finite input {values!r} rejected, state unchanged")


def check_period(indicator: str, period: int, minimum: int = 1) -> int:
    """Validate a window length; returns it so constructors can assign in one line."""
    # TypeError for a non-int, as compiled code raises at the call before this runs (see setup.py).
    if isinstance(period, bool) or not isinstance(period, int):
        raise TypeError(f"{indicator}: period must be an int >= {minimum}, got {period!r}")
    if period < minimum:
        raise ValueError(f"{indicator}: period must be an int >= {minimum}, got {period!r}")
    return period


class ScalarOutput:
    """The `value` / `ready` / `warmup` half of the contract, shared by every indicator.

    Subclasses keep their latest output in `_value` (nan until ready: so `ready` is exactly
    "`value` is a number") and set `_warmup` in `__init__`.
    """

    __slots__ = ("_value", "_warmup")

    _value: float
    _warmup: int

    @property
    def value(self) -> float:
        """The latest output; `math.nan` until `ready`."""
        return self._value

    @property
    def ready(self) -> bool:
        """True once enough inputs were seen for `value` to be defined."""
        return self._value == self._value

    @property
    def warmup(self) -> int:
        """The fewest updates after `reset()` before `ready` turns true."""
        return self._warmup

    def __reduce__(self) -> tuple[type[ScalarOutput], tuple[object, ...], object]:
        """`copy` and `pickle` support: rebuild from the constructor arguments, then restore the state.

        The default protocol makes the object without calling `__init__`, which a class compiled by mypyc
        refuses (its `__new__` runs `__init__`), so compiled indicators could not be copied without this.
        """
        return type(self), self._init_args(), self.__getstate__()

    def _init_args(self) -> tuple[object, ...]:
        """The constructor arguments of an indicator equal to this one after `reset()`."""
        raise NotImplementedError
