"""What happened after a signal: pure functions over the bars that followed it.

Conventions (docs/backtest.md has worked examples):

- The clock starts at the signal bar's close, `start_ms = signal.window_end_ms` (an inclusive close time,
  `...999`). A horizon of `h` ms covers the bars with `open_time_ms > start_ms` and
  `close_time_ms <= start_ms + h`: with 1m bars and h = 15 min, exactly the next 15 bars.
- `entry` is the signal bar's close. Percentages are `x 100`, signed by direction: a bearish signal whose
  price fell 2 % has a forward return of +2 %. Neutral signals are scored as long.
- MFE (maximum favourable excursion) and MAE (maximum adverse excursion) are non-negative magnitudes in
  percent of entry over the horizon's highs and lows: bullish MFE = max(high)/entry - 1, MAE =
  1 - min(low)/entry; bearish mirrored; each floored at 0.
- A horizon that reaches past the last bar of data has no outcome (`None`); it is left out of hit rates.
- Target/stop: bars after the signal are scanned in order up to `max_ms`; the first bar whose range
  touches the target (bullish: high >= target) or the stop (bullish: low <= stop) decides. A bar that
  touches both counts as STOP: bars carry no order inside them, so the conservative reading is taken.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from enum import StrEnum
from itertools import pairwise

import msgspec

from cryptoradar.events import Bar, Direction

__all__ = [
    "ExitKind",
    "ExitOutcome",
    "HorizonOutcome",
    "PricePath",
    "first_exit",
    "horizon_outcome",
    "parse_horizon",
]

_UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def parse_horizon(text: str) -> int:
    """`15m`, `1h`, `4h`, `30s`, `1d` -> milliseconds; raises ValueError with the bad text."""
    number, unit = text[:-1], text[-1:]
    if unit not in _UNIT_MS or not number.isdigit() or int(number) <= 0:
        raise ValueError(f"horizon {text!r}: use a positive whole number and one of s, m, h, d (e.g. 15m)")
    return int(number) * _UNIT_MS[unit]


class ExitKind(StrEnum):
    TARGET = "target"
    STOP = "stop"
    TIMEOUT = "timeout"
    """Neither level was touched within `max_ms`."""
    DATA_END = "data_end"
    """The data ended before a level was touched and before `max_ms` elapsed: unknown."""


class HorizonOutcome(msgspec.Struct, frozen=True):
    horizon: str
    return_pct: float
    """Direction-signed return from entry to the close of the last bar inside the horizon."""
    mfe_pct: float
    mae_pct: float

    @property
    def hit(self) -> bool:
        return self.return_pct > 0.0

    @property
    def miss(self) -> bool:
        return self.return_pct < 0.0


class ExitOutcome(msgspec.Struct, frozen=True):
    kind: ExitKind
    bars: int
    """Bars scanned up to and including the deciding one (all scanned bars for TIMEOUT / DATA_END)."""
    elapsed_ms: int
    """From `start_ms` to the close of the deciding bar (an upper bound: bars do not say when inside)."""


class PricePath:
    """The bars of one (market, symbol) at one interval, sorted by open time, for range look-ups.

    Contract: `bars` are closed, of one interval, strictly increasing in `open_time_ms` (callers sort and
    drop duplicates; `from_bars` does both).
    """

    __slots__ = ("close_ms", "closes", "highs", "lows", "open_ms")

    def __init__(self, bars: Sequence[Bar]) -> None:
        self.open_ms = [b.open_time_ms for b in bars]
        self.close_ms = [b.close_time_ms for b in bars]
        self.highs = [b.high for b in bars]
        self.lows = [b.low for b in bars]
        self.closes = [b.close for b in bars]

    @classmethod
    def from_bars(cls, bars: Sequence[Bar]) -> PricePath:
        opens = [b.open_time_ms for b in bars]
        if all(a < b for a, b in pairwise(opens)):  # already sorted, no duplicates: the usual case
            return cls(bars)
        unique: dict[int, Bar] = {}
        for b in bars:
            unique.setdefault(b.open_time_ms, b)
        return cls([unique[k] for k in sorted(unique)])

    def __len__(self) -> int:
        return len(self.open_ms)

    @property
    def last_close_ms(self) -> int:
        return self.close_ms[-1] if self.close_ms else -1

    def span(self, start_ms: int, end_ms: int) -> tuple[int, int]:
        """Index range [i, j) of bars with `open_time_ms > start_ms` and `close_time_ms <= end_ms`."""
        i = bisect_right(self.open_ms, start_ms)
        j = bisect_right(self.close_ms, end_ms)
        return i, max(i, j)

    def close_at_or_before(self, ms: int) -> float | None:
        """Close of the last bar that closed at or before `ms` (a fallback entry price)."""
        j = bisect_right(self.close_ms, ms)
        return self.closes[j - 1] if j > 0 else None


def horizon_outcome(
    path: PricePath, entry: float, direction: Direction, start_ms: int, horizon: str
) -> HorizonOutcome | None:
    """Forward return, MFE and MAE over `horizon` after `start_ms`; None when the data does not cover it."""
    horizon_ms = parse_horizon(horizon)
    end_ms = start_ms + horizon_ms
    if entry <= 0.0 or path.last_close_ms < end_ms:
        return None
    i, j = path.span(start_ms, end_ms)
    if i == j:
        return None
    high = max(path.highs[i:j])
    low = min(path.lows[i:j])
    last = path.closes[j - 1]
    if direction is Direction.BEARISH:
        ret = (1.0 - last / entry) * 100.0
        mfe = (1.0 - low / entry) * 100.0
        mae = (high / entry - 1.0) * 100.0
    else:
        ret = (last / entry - 1.0) * 100.0
        mfe = (high / entry - 1.0) * 100.0
        mae = (1.0 - low / entry) * 100.0
    return HorizonOutcome(horizon, ret, max(0.0, mfe), max(0.0, mae))


def first_exit(
    path: PricePath, direction: Direction, stop: float, target: float, start_ms: int, max_ms: int
) -> ExitOutcome:
    """Which of target and stop the price touched first within `max_ms` after `start_ms` (stop on a tie)."""
    end_ms = start_ms + max_ms
    i, j = path.span(start_ms, end_ms)
    up = direction is not Direction.BEARISH
    highs, lows, close_ms = path.highs, path.lows, path.close_ms
    for k in range(i, j):
        stop_hit = lows[k] <= stop if up else highs[k] >= stop
        target_hit = highs[k] >= target if up else lows[k] <= target
        if stop_hit or target_hit:
            kind = ExitKind.STOP if stop_hit else ExitKind.TARGET
            return ExitOutcome(kind, k - i + 1, close_ms[k] - start_ms)
    covered = path.last_close_ms >= end_ms
    elapsed_ms = (close_ms[j - 1] - start_ms) if j > i else 0
    return ExitOutcome(ExitKind.TIMEOUT if covered else ExitKind.DATA_END, j - i, elapsed_ms)
