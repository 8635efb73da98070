"""The only place that reads wall time.

Everything that needs "now" takes a `Clock`, so tests can drive time by hand and the simulator can run
accelerated time with consistent exchange timestamps.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now_ns(self) -> int:
        """Current time as unix nanoseconds."""
        ...

    @property
    def rate(self) -> float:
        """Clock seconds per wall second: 1.0 for real time, the acceleration of a simulated exchange.
        Latency metrics divide by it, so they report wall seconds whichever clock the app runs on."""
        ...


class SystemClock:
    """Wall-clock time."""

    rate = 1.0

    def now_ns(self) -> int:
        return time.time_ns()


class ManualClock:
    """A clock that moves only when told to (tests, backtests)."""

    rate = 1.0

    def __init__(self, start_ns: int = 0) -> None:
        self._now_ns = start_ns

    def now_ns(self) -> int:
        return self._now_ns

    def advance(self, delta_ns: int) -> None:
        if delta_ns < 0:
            raise ValueError("a clock cannot go backwards")
        self._now_ns += delta_ns

    def set(self, now_ns: int) -> None:
        if now_ns < self._now_ns:
            raise ValueError("a clock cannot go backwards")
        self._now_ns = now_ns


def ns_to_ms(ns: int) -> int:
    return ns // 1_000_000


def ms_to_ns(ms: int) -> int:
    return ms * 1_000_000
