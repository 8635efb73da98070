"""Overflow policy of the bounded event queue."""

from __future__ import annotations

import asyncio

import pytest

from cryptoradar.sources.queue import BoundedEventQueue, Overflow

D = Overflow.DROP_OLDEST
K = Overflow.NEVER_DROP


def drain(q: BoundedEventQueue[str]) -> list[str]:
    out = []
    while len(q):
        out.append(q.get_nowait())
    return out


def test_droppable_items_drop_oldest_when_full() -> None:
    q: BoundedEventQueue[str] = BoundedEventQueue("t1", capacity=3)
    for item in "abcde":
        assert q.put_nowait(item, D)
    assert drain(q) == ["c", "d", "e"]
    assert q.dropped == 2


def test_never_drop_item_evicts_oldest_droppable_and_keeps_order() -> None:
    q: BoundedEventQueue[str] = BoundedEventQueue("t2", capacity=3)
    q.put_nowait("a", D)
    q.put_nowait("B", K)
    q.put_nowait("c", D)
    assert q.put_nowait("D", K)  # full: evicts "a"
    assert drain(q) == ["B", "c", "D"]
    assert q.dropped == 1


def test_never_drop_items_are_never_lost_and_fill_the_headroom() -> None:
    q: BoundedEventQueue[str] = BoundedEventQueue("t3", capacity=2, never_drop_headroom=2)
    for item in "ABCD":
        assert q.put_nowait(item, K)
    assert not q.put_nowait("E", K)  # hard ceiling: caller must wait
    assert q.put_nowait("x", D)  # a droppable item into a queue full of kept items is itself dropped
    assert drain(q) == ["A", "B", "C", "D"]
    assert q.dropped == 1


async def test_put_waits_at_the_ceiling_until_a_consumer_takes_one() -> None:
    q: BoundedEventQueue[str] = BoundedEventQueue("t4", capacity=1, never_drop_headroom=0)
    await q.put("A", K)
    waiter = asyncio.create_task(q.put("B", K))
    await asyncio.sleep(0)
    assert not waiter.done()
    assert await q.get() == "A"
    await asyncio.wait_for(waiter, 1.0)
    assert await q.get() == "B"


async def test_get_waits_for_an_item() -> None:
    q: BoundedEventQueue[str] = BoundedEventQueue("t5", capacity=4)
    getter = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    q.put_nowait("a", D)
    assert await asyncio.wait_for(getter, 1.0) == "a"


def test_empty_get_nowait_raises() -> None:
    q: BoundedEventQueue[str] = BoundedEventQueue("t6", capacity=1)
    with pytest.raises(asyncio.QueueEmpty):
        q.get_nowait()
