"""Per-channel delivery workers: priority queue, grouping, rate limit, retry, disable on permanent error.

Each channel has its own worker task, so a slow or dead channel never delays another. Inside a channel:
- alerts queue in a `DeliveryQueue` (group wait, then highest severity / oldest first, with the other
  ready alerts of its group up to `max_batch`), which the sink's `pack()` splits into requests;
- every request takes a token from the channel's rate limiter first;
- success is recorded (`mark_sent`) before the next request; a retryable error (or a send exceeding the
  channel's `send_timeout_s`) pauses the whole channel for the remote's `retry_after`, else for the next
  capped backoff delay, and keeps the alerts queued; a permanent error fails the channel: its pending
  deliveries are marked failed and `on_disabled` raises an operator alert elsewhere.
- a store write that fails (recording sent, retry or failed) is reported to `on_store_result` and the
  worker carries on from its in-memory state: an alert sent but not recorded as sent is resent at most
  once after a restart, which the outbox contract already allows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from enum import StrEnum

import msgspec
import structlog
from prometheus_client import Counter

from cryptoradar.alerts.ports import AlertStore
from cryptoradar.alerts.queue import DeliveryQueue, QueuedDelivery
from cryptoradar.alerts.ratelimit import RateLimiter
from cryptoradar.core.backoff import Backoff
from cryptoradar.core.clock import Clock
from cryptoradar.core.errors import PermanentError, RetryableError
from cryptoradar.core.logging import LogOncePerKind
from cryptoradar.core.metrics import ALERTS, BAR_CLOSE_TO_DELIVERED_S, REGISTRY
from cryptoradar.events import Signal
from cryptoradar.notifications import Notification, RenderedAlert, Sink

log = structlog.get_logger(__name__)

_NS_PER_S = 1_000_000_000
RENDER_ERRORS = Counter(
    "cryptoradar_alert_render_errors_total",
    "Alerts sent with the fallback rendering because their template failed",
    ["channel"],
    registry=REGISTRY,
)
Sleep = Callable[[float], Awaitable[None]]


class ChannelState(StrEnum):
    ACTIVE = "active"
    BACKOFF = "backoff"
    FAILED = "failed"


class ChannelStatus(msgspec.Struct, frozen=True):
    channel: str
    state: ChannelState
    queued: int
    sent: int
    retries: int
    last_error: str


Render = Callable[[Signal, int, Sequence[str]], RenderedAlert]
"""(signal, alert_id, context lines) -> the alert in this channel's format."""


def fallback_render(signal: Signal, alert_id: int) -> RenderedAlert:
    """A plain rendering for when a (user-supplied) template fails: the alert still goes out."""
    body = "\n".join(f"{k}: {v:g}" for k, v in sorted(signal.metrics.items()))
    return RenderedAlert(
        alert_id=alert_id,
        severity=signal.severity,
        title=f"{signal.symbol} {signal.kind} {signal.timeframe}".strip(),
        body=body,
        fields=(),
        color=0,
        ts_event_ns=signal.ts_event_ns,
    )


class ChannelWorker:
    """Delivers one channel's queue; see the module docstring for the policy."""

    def __init__(
        self,
        sink: Sink,
        store: AlertStore,
        *,
        channel: str,
        render: Render,
        clock: Clock,
        limiter: RateLimiter,
        backoff: Backoff,
        on_disabled: Callable[[str, str], Awaitable[None]],
        on_store_result: Callable[[Exception | None], None] = lambda _error: None,
        send_timeout_s: float = 30.0,
        max_batch: int = 25,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.name = channel
        """The configured channel name (deliveries are keyed by it, whatever the sink calls itself)."""
        self._sink = sink
        self._store = store
        self._render = render
        self._clock = clock
        self._limiter = limiter
        self._backoff = backoff
        self._on_disabled = on_disabled
        self._on_store_result = on_store_result
        self._send_timeout_s = send_timeout_s
        self._max_batch = max_batch
        self._sleep = sleep
        self._queue = DeliveryQueue(max_batch)
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._paused_until_ns = 0
        self._busy = False
        self._flushing = False
        self.state = ChannelState.ACTIVE
        self._sent = 0
        self._retries = 0
        self._last_error = ""
        self._render_errors = LogOncePerKind(clock=clock)
        self._store_errors = LogOncePerKind(clock=clock)

    # --- queue -----------------------------------------------------------------------------------

    def enqueue(self, item: QueuedDelivery, group_wait_s: float) -> None:
        """Queue an already persisted delivery. The group's first alert opens a `group_wait_s` window;
        later alerts of the group join it. After `flush_now` nothing waits."""
        group_wait_ns = 0 if self._flushing else int(group_wait_s * _NS_PER_S)
        self._queue.add(item, self._clock.now_ns(), group_wait_ns)
        self._idle.clear()
        self._wake.set()

    def flush_now(self) -> None:
        """End every group wait (used on stop so nothing waits for a timer)."""
        self._flushing = True
        self._queue.flush()
        self._wake.set()

    @property
    def idle(self) -> bool:
        return not self._queue and not self._busy

    def status(self) -> ChannelStatus:
        state = self.state
        if state is ChannelState.ACTIVE and self._paused_until_ns > self._clock.now_ns():
            state = ChannelState.BACKOFF
        return ChannelStatus(
            self.name,
            state,
            len(self._queue),
            self._sent,
            self._retries,
            self._last_error,
        )

    # --- loop ------------------------------------------------------------------------------------

    async def wait_idle(self) -> None:
        """Return once nothing is queued or in flight (or the channel has failed)."""
        await self._idle.wait()

    async def run(self) -> None:
        try:
            await self._loop()
        finally:
            self._idle.set()

    async def _loop(self) -> None:
        while self.state is not ChannelState.FAILED:
            now_ns = self._clock.now_ns()
            next_due_ns = self._queue.promote(now_ns)
            if self._paused_until_ns > now_ns:
                await self._wait((self._paused_until_ns - now_ns) / _NS_PER_S, interruptible=False)
            elif self._queue.has_ready:
                self._busy = True
                try:
                    await self._deliver(self._queue.take_batch())
                finally:
                    self._busy = False
            else:
                if next_due_ns is None:
                    self._idle.set()
                delay_s = None if next_due_ns is None else (next_due_ns - now_ns) / _NS_PER_S
                await self._wait(delay_s, interruptible=True)

    async def _wait(self, delay_s: float | None, *, interruptible: bool) -> None:
        if not interruptible:
            await self._sleep(max(0.0, delay_s or 0.0))
            return
        if self._wake.is_set():
            self._wake.clear()
            return
        if delay_s is None:
            await self._wake.wait()
            self._wake.clear()
            return
        sleeper = asyncio.ensure_future(self._sleep(max(0.0, delay_s)))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait((sleeper, waker), return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waker.cancel()
        self._wake.clear()

    async def _deliver(self, batch: list[QueuedDelivery]) -> None:
        by_alert = {item.alert_id: item for item in batch}
        notifications = self._sink.pack([self._render_one(item) for item in batch])
        for index, notification in enumerate(notifications):
            items = [by_alert[a.alert_id] for a in notification.alerts if a.alert_id in by_alert]
            while (wait_ns := self._limiter.acquire(self._clock.now_ns())) > 0:
                await self._sleep(wait_ns / _NS_PER_S)
            error = await self._send(notification)
            if error is None:
                await self._record_sent(items)
                continue
            unsent = [
                by_alert[a.alert_id]
                for n in notifications[index:]
                for a in n.alerts
                if a.alert_id in by_alert
            ]
            if isinstance(error, PermanentError):
                await self._disable(str(error))
            else:
                await self._schedule_retry(unsent, error)
            return

    def _render_one(self, item: QueuedDelivery) -> RenderedAlert:
        try:
            return self._render(item.signal, item.alert_id, item.context)
        except Exception as e:
            if self._render_errors.should_log(f"{item.signal.kind}:{type(e).__name__}"):
                log.error("alert_render_failed", channel=self.name, kind=item.signal.kind, error=repr(e))
            RENDER_ERRORS.labels(channel=self.name).inc()
            return fallback_render(item.signal, item.alert_id)

    async def _send(self, notification: Notification) -> Exception | None:
        try:
            await asyncio.wait_for(self._sink.send(notification), timeout=self._send_timeout_s)
        except (RetryableError, PermanentError) as e:
            return e
        except TimeoutError:
            return RetryableError(f"send took longer than {self._send_timeout_s}s")
        except asyncio.CancelledError:
            raise
        except Exception as e:
            # A sink bug or an unclassified transport error: retrying is safer than dropping the alert.
            log.warning("sink_unclassified_error", channel=self.name, error=repr(e))
            return RetryableError(repr(e))
        return None

    async def _store_write(self, write: Awaitable[object], what: str) -> None:
        try:
            await write
        except Exception as e:
            self._on_store_result(e)
            if self._store_errors.should_log(f"{what}:{type(e).__name__}"):
                log.error("alert_store_write_failed", channel=self.name, write=what, error=repr(e))
            return
        self._on_store_result(None)

    async def _record_sent(self, items: list[QueuedDelivery]) -> None:
        now_ns = self._clock.now_ns()
        await self._store_write(self._store.mark_sent(self.name, [i.alert_id for i in items], now_ns), "sent")
        self._backoff.reset()
        self._sent += len(items)
        ALERTS.labels(channel=self.name, outcome="sent").inc(len(items))
        latency = BAR_CLOSE_TO_DELIVERED_S.labels(channel=self.name)
        for item in items:
            latency.observe(max(0.0, (now_ns - item.signal.window_end_ms * 1_000_000) / _NS_PER_S))

    async def _schedule_retry(self, items: list[QueuedDelivery], error: Exception) -> None:
        retry_after_s = error.retry_after_s if isinstance(error, RetryableError) else None
        delay_s = retry_after_s if retry_after_s is not None else self._backoff.next_delay_s()
        now_ns = self._clock.now_ns()
        self._paused_until_ns = now_ns + int(delay_s * _NS_PER_S)
        self._last_error = str(error)
        self._retries += len(items)
        ALERTS.labels(channel=self.name, outcome="retry").inc(len(items))
        await self._store_write(
            self._store.mark_retry(
                self.name, [i.alert_id for i in items], self._last_error, self._paused_until_ns
            ),
            "retry",
        )
        self._queue.requeue(items)
        log.warning(
            "alert_delivery_retry", channel=self.name, delay_s=round(delay_s, 3), error=self._last_error
        )

    async def _disable(self, error: str) -> None:
        self.state = ChannelState.FAILED
        self._last_error = error
        dropped = self._queue.clear()
        try:
            failed = await self._store.mark_failed(self.name, error)
        except Exception as e:
            # Still pending in the store: a restart with the channel fixed delivers them.
            self._on_store_result(e)
            failed = 0
        ALERTS.labels(channel=self.name, outcome="failed").inc(failed)
        log.error("alert_channel_disabled", channel=self.name, error=error, failed=failed, queued=dropped)
        await self._on_disabled(self.name, error)
