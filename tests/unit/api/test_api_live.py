"""`LiveHub`: broadcast, bounded per-subscriber queues that drop the oldest, clean unsubscribe."""

from __future__ import annotations

import msgspec

from cryptoradar.api.live import LiveHub, LiveKind, sse_frame


class Note(msgspec.Struct):
    n: int


async def drain(subscription: object, count: int) -> list[bytes]:
    return [await anext(subscription) for _ in range(count)]  # type: ignore[call-overload]


def test_sse_frame_format() -> None:
    assert sse_frame("alert", b'{"a":1}', 7) == b'id: 7\nevent: alert\ndata: {"a":1}\n\n'
    assert sse_frame("signal", b"{}") == b"event: signal\ndata: {}\n\n"


async def test_every_subscriber_gets_every_frame_in_order() -> None:
    hub = LiveHub(queue_size=8)
    first, second = hub.subscribe(), hub.subscribe()
    for n in range(3):
        hub.publish(LiveKind.SIGNAL, Note(n))
    expected = [sse_frame("signal", f'{{"n":{n}}}'.encode(), n + 1) for n in range(3)]
    assert await drain(first, 3) == expected
    assert await drain(second, 3) == expected


async def test_a_slow_subscriber_loses_its_oldest_frames_only() -> None:
    hub = LiveHub(queue_size=3)
    slow, fast = hub.subscribe(), hub.subscribe()
    received_fast = []
    for n in range(5):
        hub.publish(LiveKind.ALERT, Note(n))
        received_fast += await drain(fast, 1)
    assert len(received_fast) == 5
    assert await drain(slow, 3) == received_fast[2:]
    assert hub.dropped == 2


async def test_close_ends_iteration_and_unsubscribes() -> None:
    hub = LiveHub()
    subscription = hub.subscribe()
    hub.publish(LiveKind.STATUS, Note(1))
    hub.close()
    assert [frame async for frame in subscription] == [sse_frame("status", b'{"n":1}', 1)]
    assert hub.subscriber_count == 0
    late = hub.subscribe()
    hub.publish(LiveKind.STATUS, Note(2))
    assert [frame async for frame in late] == []


async def test_subscription_close_removes_it_from_the_hub() -> None:
    hub = LiveHub()
    subscription = hub.subscribe()
    assert hub.subscriber_count == 1
    subscription.close()
    subscription.close()
    assert hub.subscriber_count == 0
    assert [frame async for frame in subscription] == []


def test_public_surface() -> None:
    import cryptoradar.api as api

    assert sorted(api.__all__) == api.__all__
    for name in api.__all__:
        assert getattr(api, name) is not None
