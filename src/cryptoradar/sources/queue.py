"""The bounded queue between socket readers and processing, with a named overflow policy.

Two classes of items share one capacity:

- `Overflow.DROP_OLDEST` (trades, book tickers, tickers, in-progress bars): when the queue is full the
  oldest droppable item is discarded. A newer price supersedes an older one, so losing the oldest is the
  cheapest way to stay current.
- `Overflow.NEVER_DROP` (closed bars, liquidations, FeedStatus): never discarded. When the queue is full a
  never-drop item first evicts the oldest droppable item; only when the queue holds nothing droppable and
  the hard ceiling (`capacity + never_drop_headroom`) is reached does `put` wait.

Why the headroom: the socket reader puts items. If it waited on a slow consumer, the WebSocket library
would stop reading the socket and server pings would go unanswered (spot closes after 1 min). Never-drop
items are a small fraction of the traffic, so a generous headroom keeps the reader from ever waiting in
practice, while the ceiling still bounds memory.

Items keep their arrival order across both classes.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque
from enum import StrEnum
from typing import Generic, TypeVar

from cryptoradar.core.metrics import QUEUE_DEPTH, QUEUE_DROPPED

__all__ = [
    "BoundedEventQueue",
    "Overflow",
]

T = TypeVar("T")


class Overflow(StrEnum):
    DROP_OLDEST = "drop_oldest"
    NEVER_DROP = "never_drop"


class BoundedEventQueue(Generic[T]):
    """A FIFO of `(item, overflow)` with the policy above. Single event loop; not thread-safe."""

    def __init__(self, name: str, capacity: int, never_drop_headroom: int | None = None) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self.name = name
        self.capacity = capacity
        self.ceiling = capacity + (capacity if never_drop_headroom is None else never_drop_headroom)
        # Each entry carries a sequence number so the two classes can be merged back in arrival order.
        self._droppable: deque[tuple[int, T]] = deque()
        self._kept: deque[tuple[int, T]] = deque()
        self._seq = 0
        self._not_empty = asyncio.Event()
        self._not_full = asyncio.Event()
        self._not_full.set()
        self.dropped = 0
        # Read at scrape time, not set on every put and get: the queue is on the per-event hot path.
        ref = weakref.ref(self)
        QUEUE_DEPTH.labels(queue=name).set_function(lambda: len(q) if (q := ref()) is not None else 0)
        self._dropped_metric = QUEUE_DROPPED.labels(queue=name, policy=Overflow.DROP_OLDEST)

    def __len__(self) -> int:
        return len(self._droppable) + len(self._kept)

    def put_nowait(self, item: T, overflow: Overflow) -> bool:
        """Enqueue without waiting. Returns False only for a never-drop item at the hard ceiling."""
        if overflow is Overflow.DROP_OLDEST:
            if len(self) >= self.capacity:
                if not self._droppable:
                    self._count_drop()
                    return True  # queue full of never-drop items: the new droppable item is the oldest loser
                self._droppable.popleft()
                self._count_drop()
            self._droppable.append((self._next_seq(), item))
        else:
            if len(self) >= self.capacity and self._droppable:
                self._droppable.popleft()
                self._count_drop()
            if len(self) >= self.ceiling:
                return False
            self._kept.append((self._next_seq(), item))
        self._after_put()
        return True

    async def put(self, item: T, overflow: Overflow) -> None:
        """Enqueue; waits only for a never-drop item when the queue is at its hard ceiling."""
        while not self.put_nowait(item, overflow):
            self._not_full.clear()
            await self._not_full.wait()

    def get_nowait(self) -> T:
        """Oldest item of either class. Raises `asyncio.QueueEmpty` when empty."""
        if self._droppable and (not self._kept or self._droppable[0][0] < self._kept[0][0]):
            _, item = self._droppable.popleft()
        elif self._kept:
            _, item = self._kept.popleft()
        else:
            raise asyncio.QueueEmpty
        if len(self) < self.ceiling:
            self._not_full.set()
        return item

    async def get(self) -> T:
        while not self:
            self._not_empty.clear()
            await self._not_empty.wait()
        return self.get_nowait()

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _count_drop(self) -> None:
        self.dropped += 1
        self._dropped_metric.inc()

    def _after_put(self) -> None:
        self._not_empty.set()
