"""One channel's in-memory delivery queue (pure, no I/O): group waits, then priority with grouping.

An alert waits until its group's window ends (`group_wait` from the group's first alert), then is
ready. `take_batch` returns the ready group holding the highest-priority alert (higher severity, then
older event) with up to `max_batch` of its alerts in priority order. Every operation is O(log n) per
alert, so a backlog of tens of thousands after an outage drains in linear time.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass

from cryptoradar.events import Signal

_Priority = tuple[int, int, int]
"""(-severity rank, event time, arrival sequence): smaller goes first."""


@dataclass(slots=True)
class QueuedDelivery:
    """A persisted delivery waiting in memory. It is rendered only when sent, off the submit path."""

    alert_id: int
    signal: Signal
    context: tuple[str, ...]
    group_key: str
    seq: int = -1
    """Arrival order, set when first ready and kept on requeue so a retried alert keeps its place."""
    rerouted_from: str | None = None
    """The channel whose failed delivery this replaces (channel failover); the text says so."""
    reroute_reason: str = ""


class DeliveryQueue:
    def __init__(self, max_batch: int) -> None:
        self._max_batch = max_batch
        self._seq = itertools.count()
        self._waiting: list[tuple[int, int, QueuedDelivery]] = []
        self._groups: dict[str, list[tuple[_Priority, QueuedDelivery]]] = {}
        # One entry per group's current best alert; entries left behind by a group's changes are skipped.
        self._order: list[tuple[_Priority, str]] = []
        self._group_deadline_ns: dict[str, int] = {}
        self._ready_count = 0

    def __len__(self) -> int:
        return self._ready_count + len(self._waiting)

    @property
    def has_ready(self) -> bool:
        return self._ready_count > 0

    def add(self, item: QueuedDelivery, now_ns: int, group_wait_ns: int) -> None:
        deadline = self._group_deadline_ns.get(item.group_key)
        if deadline is None or deadline <= now_ns:
            deadline = now_ns + group_wait_ns
            self._group_deadline_ns[item.group_key] = deadline
        if deadline <= now_ns:
            self._make_ready(item)
        else:
            heapq.heappush(self._waiting, (deadline, next(self._seq), item))

    def _make_ready(self, item: QueuedDelivery) -> None:
        if item.seq < 0:
            item.seq = next(self._seq)
        priority = (-item.signal.severity.rank, item.signal.ts_event_ns, item.seq)
        group = self._groups.setdefault(item.group_key, [])
        heapq.heappush(group, (priority, item))
        if group[0][0] == priority:
            heapq.heappush(self._order, (priority, item.group_key))
        self._ready_count += 1

    def requeue(self, items: list[QueuedDelivery]) -> None:
        """Put back alerts taken but not sent; they are ready again at once, in their old place (the
        caller paces retries)."""
        for item in items:
            self._make_ready(item)

    def promote(self, now_ns: int) -> int | None:
        """Make due alerts ready; return when the next waiting one is due (None: nothing waits)."""
        while self._waiting and self._waiting[0][0] <= now_ns:
            self._make_ready(heapq.heappop(self._waiting)[2])
        if len(self._group_deadline_ns) > 64:
            self._group_deadline_ns = {k: t for k, t in self._group_deadline_ns.items() if t > now_ns}
        return self._waiting[0][0] if self._waiting else None

    def flush(self) -> None:
        """End every group wait now."""
        while self._waiting:
            self._make_ready(heapq.heappop(self._waiting)[2])
        self._group_deadline_ns.clear()

    def has_ready_in(self, group_key: str) -> bool:
        return bool(self._groups.get(group_key))

    def take_batch(self) -> list[QueuedDelivery]:
        """The best ready group's alerts (up to max_batch), best first. Requires `has_ready`."""
        while True:
            priority, key = heapq.heappop(self._order)
            group = self._groups.get(key)
            if group and group[0][0] == priority:
                break
        batch = [heapq.heappop(group)[1] for _ in range(min(self._max_batch, len(group)))]
        if group:
            heapq.heappush(self._order, (group[0][0], key))
        else:
            del self._groups[key]
        self._ready_count -= len(batch)
        return batch

    def remove(self, alert_id: int) -> bool:
        """Take a queued alert out, waiting or ready; False when it is not queued. O(n): it serves rare
        retractions (a reorged trade), never the delivery path."""
        for index, (_, _, item) in enumerate(self._waiting):
            if item.alert_id == alert_id:
                del self._waiting[index]
                heapq.heapify(self._waiting)
                return True
        found = next(
            (
                (key, index)
                for key, group in self._groups.items()
                for index, (_, item) in enumerate(group)
                if item.alert_id == alert_id
            ),
            None,
        )
        if found is None:
            return False
        key, index = found
        group = self._groups[key]
        del group[index]
        heapq.heapify(group)
        self._ready_count -= 1
        if not group:
            del self._groups[key]
        elif index == 0:
            # The group's best alert left; its `_order` entry is now skipped as stale, so add the new best.
            heapq.heappush(self._order, (group[0][0], key))
        return True

    def drain(self) -> list[QueuedDelivery]:
        """Take every queued alert out, waiting or ready (in no particular order)."""
        items = [item for _, _, item in self._waiting]
        items += [item for group in self._groups.values() for _, item in group]
        self.clear()
        return items

    def clear(self) -> int:
        dropped = len(self)
        self._waiting.clear()
        self._groups.clear()
        self._order.clear()
        self._group_deadline_ns.clear()
        self._ready_count = 0
        return dropped
