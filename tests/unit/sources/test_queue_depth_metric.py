"""The queue's depth gauge is read when scraped (no per-event update) and is exact at that moment."""

from __future__ import annotations

from cryptoradar.core.metrics import REGISTRY
from cryptoradar.sources.queue import BoundedEventQueue, Overflow


def _depth(name: str) -> float | None:
    return REGISTRY.get_sample_value("cryptoradar_queue_depth", {"queue": name})


def test_depth_gauge_reads_the_queue_length_at_scrape_time() -> None:
    queue: BoundedEventQueue[int] = BoundedEventQueue("depth-test", capacity=4)
    assert _depth("depth-test") == 0
    for i in range(3):
        queue.put_nowait(i, Overflow.DROP_OLDEST)
    queue.put_nowait(9, Overflow.NEVER_DROP)
    assert _depth("depth-test") == 4
    queue.get_nowait()
    assert _depth("depth-test") == 3
    queue.put_nowait(10, Overflow.DROP_OLDEST)
    queue.put_nowait(11, Overflow.DROP_OLDEST)  # full: the oldest droppable goes
    assert _depth("depth-test") == 4
    assert queue.dropped == 1
