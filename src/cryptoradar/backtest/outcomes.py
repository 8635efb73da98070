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

import math
from bisect import bisect_right
from collections.abc import Callable, Sequence
from enum import StrEnum
from functools import lru_cache
from itertools import islice
from operator import attrgetter, itemgetter, lt

import msgspec

from cryptoradar.events import Bar, Direction

__all__ = [
    "ExitKind",
    "ExitOutcome",
    "HorizonOutcome",
    "PricePath",
    "first_exit",
    "horizon_outcome",
    "horizon_outcomes",
    "parse_horizon",
]

_UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_OPEN_MS = attrgetter("open_time_ms")
_CLOSE_MS = attrgetter("close_time_ms")
_HIGH = attrgetter("high")
_LOW = attrgetter("low")


@lru_cache(maxsize=64)  # called per signal and horizon while scoring, with the few configured horizons
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


class HorizonOutcome(msgspec.Struct, frozen=True, gc=False):
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


class ExitOutcome(msgspec.Struct, frozen=True, gc=False):
    kind: ExitKind
    bars: int
    """Bars scanned up to and including the deciding one (all scanned bars for TIMEOUT / DATA_END)."""
    elapsed_ms: int
    """From `start_ms` to the close of the deciding bar (an upper bound: bars do not say when inside)."""


class PricePath:
    """The bars of one (market, symbol) at one interval, sorted by open time, for range look-ups.

    Contract: `bars` are closed, of one interval, strictly increasing in `open_time_ms` (callers sort and
    drop duplicates; `from_bars` does both). Look-ups bisect the bars themselves and read only the bars a
    signal's horizons cover: columns of every bar would cost more to build than scoring takes.
    """

    __slots__ = ("_first_close_ms", "_first_open_ms", "_step_ms", "bars")

    def __init__(self, bars: Sequence[Bar]) -> None:
        self.bars = bars
        # The first bar and the interval it spans: where `opened_by` / `closed_by` look first.
        first = bars[0] if bars else None
        self._first_open_ms = first.open_time_ms if first else 0
        self._first_close_ms = first.close_time_ms if first else 0
        self._step_ms = max(1, first.close_time_ms - first.open_time_ms + 1) if first else 1

    @classmethod
    def from_bars(cls, bars: Sequence[Bar]) -> PricePath:
        if all(map(lt, map(_OPEN_MS, bars), map(_OPEN_MS, islice(bars, 1, None)))):  # the usual case
            return cls(bars)
        unique: dict[int, Bar] = {}
        for b in bars:
            unique.setdefault(b.open_time_ms, b)
        return cls([unique[k] for k in sorted(unique)])

    def __len__(self) -> int:
        return len(self.bars)

    @property
    def close_ms(self) -> list[int]:
        return [b.close_time_ms for b in self.bars]

    @property
    def closes(self) -> list[float]:
        return [b.close for b in self.bars]

    @property
    def last_close_ms(self) -> int:
        return self.bars[-1].close_time_ms if self.bars else -1

    def opened_by(self, ms: int) -> int:
        """How many bars opened at or before `ms`: `bisect_right` on the open times."""
        return _count_up_to(self.bars, ms, _OPEN_MS, (ms - self._first_open_ms) // self._step_ms + 1)

    def closed_by(self, ms: int) -> int:
        """How many bars closed at or before `ms`: `bisect_right` on the close times."""
        return _count_up_to(self.bars, ms, _CLOSE_MS, (ms - self._first_close_ms) // self._step_ms + 1)

    def span(self, start_ms: int, end_ms: int) -> tuple[int, int]:
        """Index range [i, j) of bars with `open_time_ms > start_ms` and `close_time_ms <= end_ms`."""
        i = self.opened_by(start_ms)
        return i, max(i, self.closed_by(end_ms))

    def close_at_or_before(self, ms: int) -> float | None:
        """Close of the last bar that closed at or before `ms` (a fallback entry price)."""
        j = self.closed_by(ms)
        return self.bars[j - 1].close if j > 0 else None


def _count_up_to(bars: Sequence[Bar], ms: int, key: Callable[[Bar], int], guess: int) -> int:
    """`bisect_right(bars, ms, key=key)`, trying `guess` first.

    Bars of one interval without gaps sit exactly where the interval says, so checking the two bars
    around the guess settles it; a bisect over every bar would read ~20 bars scattered in memory.
    """
    n = len(bars)
    k = min(max(guess, 0), n)
    if (k == 0 or key(bars[k - 1]) <= ms) and (k == n or ms < key(bars[k])):
        return k
    return bisect_right(bars, ms, key=key)


def horizon_outcome(
    path: PricePath, entry: float, direction: Direction, start_ms: int, horizon: str
) -> HorizonOutcome | None:
    """Forward return, MFE and MAE over `horizon` after `start_ms`; None when the data does not cover it."""
    return horizon_outcomes(path, entry, direction, start_ms, (horizon,)).get(horizon)


def horizon_outcomes(
    path: PricePath, entry: float, direction: Direction, start_ms: int, horizons: Sequence[str]
) -> dict[str, HorizonOutcome]:
    """`horizon_outcome` at every horizon the data covers, in the given order.

    The horizons share their start, so from the shortest to the longest each one only adds the bars
    past the previous one to the running high and low: every bar is read once.
    """
    if entry <= 0.0:
        return {}
    bars = path.bars
    i = j = path.opened_by(start_ms)
    high, low = -math.inf, math.inf
    found: dict[str, HorizonOutcome] = {}
    for horizon, horizon_ms in sorted(((h, parse_horizon(h)) for h in horizons), key=itemgetter(1)):
        end_ms = start_ms + horizon_ms
        if path.last_close_ms < end_ms:
            break  # and every longer horizon
        k = path.closed_by(end_ms)
        if k > j:
            added = bars[j:k]
            high, low = max(high, max(map(_HIGH, added))), min(low, min(map(_LOW, added)))
            j = k
        if j > i:
            found[horizon] = _outcome(horizon, entry, direction, high, low, bars[j - 1].close)
    return {h: found[h] for h in horizons if h in found}


def _outcome(
    horizon: str, entry: float, direction: Direction, high: float, low: float, last: float
) -> HorizonOutcome:
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
    scanned = path.bars[i:j]
    for n, b in enumerate(scanned, 1):
        stop_hit = b.low <= stop if up else b.high >= stop
        target_hit = b.high >= target if up else b.low <= target
        if stop_hit or target_hit:
            kind = ExitKind.STOP if stop_hit else ExitKind.TARGET
            return ExitOutcome(kind, n, b.close_time_ms - start_ms)
    covered = path.last_close_ms >= end_ms
    elapsed_ms = (scanned[-1].close_time_ms - start_ms) if scanned else 0
    return ExitOutcome(ExitKind.TIMEOUT if covered else ExitKind.DATA_END, j - i, elapsed_ms)
