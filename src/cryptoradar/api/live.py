"""`LiveHub`: broadcasts alerts and signals to Server-Sent-Events subscribers.

Each subscriber has its own bounded queue. Overflow policy `drop_oldest`: a slow browser loses its oldest
live events (they remain in /api/alerts) and never slows the publisher or other subscribers. Drops are
counted per hub in `cryptoradar_queue_dropped_total{queue="sse"}`.
"""

from __future__ import annotations

import asyncio
from enum import StrEnum

import msgspec
from prometheus_client import Gauge

from cryptoradar.core.metrics import QUEUE_DROPPED, REGISTRY

SSE_SUBSCRIBERS = Gauge("cryptoradar_sse_subscribers", "Open live-event streams", registry=REGISTRY)

_CLOSED = b""
"""Sentinel put in a subscriber queue when the hub closes."""


class LiveKind(StrEnum):
    ALERT = "alert"
    SIGNAL = "signal"
    STATUS = "status"


def sse_frame(kind: str, data: bytes, event_id: int | None = None) -> bytes:
    """One SSE frame. `data` must be a single line (compact JSON is)."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {kind}\ndata: ".encode() + data + b"\n\n"


class LiveSubscription:
    """One subscriber's bounded queue of frames; iterate it, `close()` it when done."""

    def __init__(self, hub: LiveHub, queue_size: int) -> None:
        self._hub = hub
        self._queue_size = queue_size
        # One extra slot so the end-of-stream sentinel always fits.
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(queue_size + 1)
        self._ended = False

    def offer(self, frame: bytes) -> bool:
        """Enqueue without blocking; True when the oldest frame was dropped to make room."""
        dropped = self._queue.qsize() >= self._queue_size
        if dropped:
            self._queue.get_nowait()
        self._queue.put_nowait(frame)
        return dropped

    def end(self) -> None:
        """Make iteration stop after the frames already queued."""
        if not self._ended:
            self._ended = True
            self._queue.put_nowait(_CLOSED)

    def close(self) -> None:
        """Unsubscribe and end iteration; idempotent."""
        self._hub._unsubscribe(self)
        self.end()

    def __aiter__(self) -> LiveSubscription:
        return self

    async def __anext__(self) -> bytes:
        frame = await self._queue.get()
        if frame == _CLOSED:
            self._hub._unsubscribe(self)
            raise StopAsyncIteration
        return frame


class LiveHub:
    """Publish from anywhere on the loop (`publish` never awaits); subscribe with `async for`."""

    def __init__(self, queue_size: int = 256) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self._queue_size = queue_size
        self._subscribers: set[LiveSubscription] = set()
        self._encoder = msgspec.json.Encoder()
        self._next_id = 1
        self._closed = False
        self.dropped = 0

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def publish(self, kind: LiveKind, payload: msgspec.Struct) -> None:
        """Encode once and hand the frame to every subscriber; never blocks."""
        if self._closed:
            return
        frame = sse_frame(kind, self._encoder.encode(payload), self._next_id)
        self._next_id += 1
        for subscription in self._subscribers:
            if subscription.offer(frame):
                self.dropped += 1
                QUEUE_DROPPED.labels("sse", "drop_oldest").inc()

    def subscribe(self) -> LiveSubscription:
        """Frames published from now on (registered at once, before the first `await`); the
        subscription ends when the hub closes. Call `close()` on it when the client goes away."""
        subscription = LiveSubscription(self, self._queue_size)
        if self._closed:
            subscription.end()
        else:
            self._subscribers.add(subscription)
            SSE_SUBSCRIBERS.inc()
        return subscription

    def _unsubscribe(self, subscription: LiveSubscription) -> None:
        if subscription in self._subscribers:
            self._subscribers.discard(subscription)
            SSE_SUBSCRIBERS.dec()

    def close(self) -> None:
        """End every subscription (server stop); later publishes are ignored."""
        self._closed = True
        for subscription in list(self._subscribers):
            subscription.end()
