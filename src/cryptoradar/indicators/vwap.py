"""Session VWAP: volume-weighted typical price, reset at each session boundary."""

from __future__ import annotations

from typing import Final

from cryptoradar.indicators.base import NAN, ScalarOutput, reject_non_finite

DAY_MS: Final = 86_400_000


class VWAP(ScalarOutput):
    """Volume-weighted average of the typical price `(high + low + close) / 3`.

    Sessions are the intervals `[offset_ms + k * session_ms, offset_ms + (k + 1) * session_ms)`
    of the bar's `ts_ms` (its open time in Unix milliseconds); the default is the UTC day.
    The first bar of a new session starts the sums afresh.

    Zero volume: a bar with volume 0 changes nothing. Until the current session has
    traded a positive volume the VWAP is undefined: `value` is nan and `ready` is false
    (so `ready` can turn false again at a session boundary).
    Rejected with `ValueError`, state unchanged: non-finite inputs, negative volume, and
    a bar from an earlier session than the current one (bars must come in time order).
    """

    __slots__ = ("_offset_ms", "_session", "_session_ms", "_sum_pv", "_sum_v")

    def __init__(self, session_ms: int = DAY_MS, offset_ms: int = 0) -> None:
        if isinstance(session_ms, bool) or not isinstance(session_ms, int) or session_ms <= 0:
            raise ValueError(f"VWAP: session_ms must be a positive int, got {session_ms!r}")
        if isinstance(offset_ms, bool) or not isinstance(offset_ms, int):
            raise ValueError(f"VWAP: offset_ms must be an int, got {offset_ms!r}")
        self._session_ms = session_ms
        self._offset_ms = offset_ms
        self._warmup = 1  # a single bar with positive volume
        self.reset()

    def _init_args(self) -> tuple[object, ...]:
        return (self._session_ms, self._offset_ms)

    def reset(self) -> None:
        self._session: int | None = None
        self._sum_pv = 0.0
        self._sum_v = 0.0
        self._value = NAN

    @property
    def session_start_ms(self) -> int | None:
        """Start of the current session (Unix ms); None before the first bar."""
        if self._session is None:
            return None
        return self._session * self._session_ms + self._offset_ms

    def update(self, high: float, low: float, close: float, volume: float, ts_ms: int) -> float:
        if high - high != 0.0 or low - low != 0.0 or close - close != 0.0 or volume - volume != 0.0:
            raise reject_non_finite("VWAP", high, low, close, volume)
        if volume < 0.0:
            raise ValueError(f"VWAP: negative volume {volume!r} rejected, state unchanged")
        session = (ts_ms - self._offset_ms) // self._session_ms
        if session != self._session:
            if self._session is not None and session < self._session:
                raise ValueError(
                    f"VWAP: bar at {ts_ms} ms is from an earlier session than the current one, rejected"
                )
            self._session = session
            self._sum_pv = 0.0
            self._sum_v = 0.0
            self._value = NAN
        if volume > 0.0:
            self._sum_pv += (high + low + close) / 3.0 * volume
            self._sum_v += volume
            self._value = self._sum_pv / self._sum_v
        return self._value
