"""Small real Sink implementations for the alert tests: they record what they got and fail on demand."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from cryptoradar.core.errors import PermanentError, RetryableError
from cryptoradar.notifications import Notification, RenderedAlert


class RecordingSink:
    """Packs up to `per_request` alerts per notification; `fail` decides each send's fate."""

    def __init__(
        self,
        name: str,
        *,
        per_request: int = 10,
        fail: Callable[[Notification], Exception | None] | None = None,
        now_ns: Callable[[], int] | None = None,
    ) -> None:
        self.name = name
        self.per_request = per_request
        self.fail = fail
        self._now_ns = now_ns
        self.requests: list[Notification] = []
        self.attempts: list[tuple[int, Notification]] = []
        self.closed = False

    def pack(self, alerts: list[RenderedAlert]) -> list[Notification]:
        return [
            Notification(self.name, tuple(alerts[i : i + self.per_request]))
            for i in range(0, len(alerts), self.per_request)
        ]

    async def send(self, notification: Notification) -> None:
        self.attempts.append((self._now_ns() if self._now_ns else 0, notification))
        error = self.fail(notification) if self.fail else None
        if error is not None:
            raise error
        self.requests.append(notification)

    async def close(self) -> None:
        self.closed = True

    @property
    def alert_ids(self) -> list[int]:
        return [a.alert_id for n in self.requests for a in n.alerts]


class HangingSink(RecordingSink):
    """Every send blocks until the test releases it (or the task is cancelled)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.release = asyncio.Event()
        self.started = 0

    async def send(self, notification: Notification) -> None:
        self.started += 1
        await self.release.wait()
        await super().send(notification)


class PacedSink(RecordingSink):
    """Its remote announces after every reply that the next request may come only `pace_s` later (the way
    Discord's `X-RateLimit-Reset-After` does when the bucket is empty)."""

    def __init__(self, name: str, *, pace_s: float, now_ns: Callable[[], int]) -> None:
        super().__init__(name, per_request=1, now_ns=now_ns)
        self._pace_ns = int(pace_s * 1e9)
        self._clock_ns = now_ns
        self._free_at_ns = 0

    @property
    def next_allowed_in_s(self) -> float:
        return max(0, self._free_at_ns - self._clock_ns()) / 1e9

    async def send(self, notification: Notification) -> None:
        await super().send(notification)
        self._free_at_ns = self._clock_ns() + self._pace_ns


def retryable(retry_after_s: float | None = None) -> RetryableError:
    return RetryableError("503 Service Unavailable", retry_after_s)


def permanent() -> PermanentError:
    return PermanentError("404 Unknown Webhook")
