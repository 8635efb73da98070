"""A per-symbol sliding window of notional events on event time, with running up/down totals."""

from __future__ import annotations

from collections import deque

from cryptoradar.detectors.base import NEVER_NS
from cryptoradar.events import Direction

# Window entries are (ts_event_ns, pushes_up, notional_usd, price). `pushes_up` is true for a liquidated
# short (a forced buy) and for a taker buy, so both windows share one direction convention.
Entry = tuple[int, bool, float, float]


class EventWindow:
    """Events of one symbol inside a window, with running up/down notional totals and counts.

    Half-open on event time: an entry at `t` is inside while `newest - t < window_ns`, so an entry
    exactly one window old is evicted. At most `cap` entries are kept (the oldest go first).
    """

    __slots__ = ("down_count", "down_usd", "entries", "latest_ns", "up_count", "up_usd")

    def __init__(self) -> None:
        self.entries: deque[Entry] = deque()
        self.latest_ns = NEVER_NS
        self.up_usd = 0.0
        self.down_usd = 0.0
        self.up_count = 0
        self.down_count = 0

    def add(self, entry: Entry, window_ns: int, cap: int) -> None:
        """Append one event; an event already a full window older than the newest is ignored."""
        if entry[0] <= self.latest_ns - window_ns:
            return
        self.entries.append(entry)
        if entry[1]:
            self.up_usd += entry[2]
            self.up_count += 1
        else:
            self.down_usd += entry[2]
            self.down_count += 1
        self.latest_ns = max(self.latest_ns, entry[0])
        while len(self.entries) > cap:
            self._pop()
        self.evict(self.latest_ns - window_ns)

    def evict(self, cutoff_ns: int) -> None:
        """Drop entries at or before `cutoff_ns` (they are a full window old)."""
        entries = self.entries
        while entries and entries[0][0] <= cutoff_ns:
            self._pop()
        if not entries:
            # Reset exactly so float drift from add/subtract never outlives an empty window.
            self.up_usd = self.down_usd = 0.0

    def _pop(self) -> None:
        _, up, usd, _ = self.entries.popleft()
        if up:
            self.up_usd -= usd
            self.up_count -= 1
        else:
            self.down_usd -= usd
            self.down_count -= 1

    @property
    def total_usd(self) -> float:
        return self.up_usd + self.down_usd

    @property
    def count(self) -> int:
        return self.up_count + self.down_count

    def direction(self) -> Direction:
        if self.up_usd > self.down_usd:
            return Direction.BULLISH
        if self.down_usd > self.up_usd:
            return Direction.BEARISH
        return Direction.NEUTRAL

    def dominance(self) -> float:
        """|up - down| / (up + down), 0 when balanced or empty, 1 when one-sided."""
        total = self.up_usd + self.down_usd
        return abs(self.up_usd - self.down_usd) / total if total > 0 else 0.0
