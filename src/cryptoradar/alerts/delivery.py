"""Per-channel delivery workers: priority queue, grouping, rate limit, retry, disable on permanent error.

Each channel has its own worker task, so a slow or dead channel never delays another. Inside a channel:
- alerts queue in a `DeliveryQueue` (group wait, then highest severity / oldest first, with the other
  ready alerts of its group up to `max_batch`), which the sink's `pack()` splits into requests;
- every request waits for the channel's rate limiter (which counts it once its reply is in) and, for a
  sink whose remote announces its bucket (`ServerPacedSink`), for the remote's reset too;
- success is recorded (`mark_sent`) before the next request; a retryable error (or a send exceeding the
  channel's `send_timeout_s`) pauses the whole channel for the remote's `retry_after`, else for the next
  capped backoff delay, and keeps the alerts queued; a permanent error fails the channel: its pending
  deliveries are marked failed and `on_disabled` raises an operator alert elsewhere.
- failover: the pending deliveries of a channel that fails permanently, or has failed with transient
  errors for `failover_after_s` without one success, are failed with their reason and rerouted to the
  channel's live fallbacks in one store transaction (`AlertStore.fail_over`: a new delivery per alert and
  fallback, never a second one on a channel), which `on_rerouted` queues there; the text says "rerouted
  from <channel>". With no live fallback a transient failure keeps retrying: nothing is dropped. A channel
  that recovers resumes with the alerts that arrive after the failover; rerouted ones stay rerouted.
- a store write that fails (recording sent, retry or failed) is reported to `on_store_result` and the
  worker carries on from its in-memory state: an alert sent but not recorded as sent is resent at most
  once after a restart, which the outbox contract already allows.
- a retracted alert (`retract`: a reorg removed its trade) that has not started to send is dropped from
  the queue or the batch and its delivery closed; one being sent is never retried.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from enum import StrEnum

import msgspec
import structlog
from prometheus_client import Counter

from cryptoradar.alerts.ports import AlertStore, PendingDeliveryRow
from cryptoradar.alerts.queue import DeliveryQueue, QueuedDelivery
from cryptoradar.alerts.ratelimit import RateLimiter
from cryptoradar.core.backoff import Backoff
from cryptoradar.core.clock import Clock
from cryptoradar.core.errors import PermanentError, RetryableError
from cryptoradar.core.logging import LogOncePerKind
from cryptoradar.core.metrics import ALERTS, BAR_CLOSE_TO_DELIVERED_S, REGISTRY
from cryptoradar.events import Signal
from cryptoradar.notifications import Notification, RenderedAlert, ServerPacedSink, Sink

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


RETRACTED_BEFORE_DELIVERY = "retracted before delivery"
"""The last error of a delivery closed unsent because its alert was retracted (a reorged trade)."""

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
        market_clock: Clock | None = None,
        limiter: RateLimiter,
        backoff: Backoff,
        on_disabled: Callable[[str, str], Awaitable[None]],
        on_store_result: Callable[[Exception | None], None] = lambda _error: None,
        send_timeout_s: float = 30.0,
        max_batch: int = 25,
        sleep: Sleep = asyncio.sleep,
        fallbacks: Callable[[], Sequence[str]] = tuple,
        on_rerouted: Callable[[Sequence[PendingDeliveryRow]], None] = lambda _rows: None,
        failover_after_s: float | None = None,
    ) -> None:
        self.name = channel
        """The configured channel name (deliveries are keyed by it, whatever the sink calls itself)."""
        self._sink = sink
        self._paced = sink if isinstance(sink, ServerPacedSink) else None
        self._store = store
        self._render = render
        self._clock = clock
        self._market_clock = market_clock or clock
        self._limiter = limiter
        self._backoff = backoff
        self._on_disabled = on_disabled
        self._on_store_result = on_store_result
        self._send_timeout_s = send_timeout_s
        self._sleep = sleep
        self._fallbacks = fallbacks
        """The live channels this one's alerts are rerouted to on failover (asked at that moment)."""
        self._on_rerouted = on_rerouted
        self._failover_after_ns = None if failover_after_s is None else int(failover_after_s * _NS_PER_S)
        self._failing_since_ns: int | None = None
        """When the current run of transient failures began; None after a success."""
        self._queue = DeliveryQueue(max_batch)
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._paused_until_ns = 0
        self._busy = False
        self._flushing = False
        self._taken: dict[int, QueuedDelivery] = {}
        """The batch being delivered, minus what is sent or retracted (by alert id)."""
        self._in_flight: frozenset[int] = frozenset()
        """The alerts of the request being sent now, until its outcome is recorded."""
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

    async def retract(self, alert_id: int) -> bool:
        """The alert was retracted (a reorg removed its trade) while its delivery here is pending in the
        store. Returns whether the original may have reached the channel, so a correction must follow:
        - queued (waiting out its group, paused for a retry, or taken and waiting for a rate-limit slot):
          it is dropped and its delivery closed for good -> False;
        - being sent right now: it goes or not, but is never retried -> True;
        - not held here (sent, but recording it failed): its delivery is closed so a restart does not
          resend it -> True.
        The decision is taken before the first await, so the worker cannot send it meanwhile."""
        if self._queue.remove(alert_id) or (alert_id not in self._in_flight and alert_id in self._taken):
            self._taken.pop(alert_id, None)
            self._wake.set()  # the loop re-reads the queue (it may be empty now: idle)
            await self._close_retracted([alert_id], RETRACTED_BEFORE_DELIVERY)
            return False
        if alert_id in self._in_flight:
            self._taken.pop(alert_id, None)  # `_send_in_turn` then closes it instead of retrying
            return True
        await self._store_write(
            self._store.mark_retracted(self.name, [alert_id], "retracted; the original was not queued"),
            "retracted",
        )
        return True

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
        self._taken = {item.alert_id: item for item in batch}
        try:
            notifications = self._sink.pack([self._render_one(item) for item in batch])
            if len(notifications) > 1 and self._queue.has_ready_in(batch[0].group_key):
                # The group is larger than one batch: the last, possibly part-filled message waits for the
                # rest of its group, so the group as a whole still goes out in the fewest messages.
                self._queue.requeue([self._taken.pop(a.alert_id) for a in notifications.pop().alerts])
            await self._send_in_turn(deque(notifications))
        finally:
            self._taken = {}
            self._in_flight = frozenset()

    async def _send_in_turn(self, notifications: deque[Notification]) -> None:
        while notifications:
            await self._wait_for_send_slot()
            notification = notifications.popleft()
            # Alerts retracted while this waited (for its slot, or behind an earlier request) must not go.
            kept = [a for a in notification.alerts if a.alert_id in self._taken]
            if not kept:
                continue
            if len(kept) < len(notification.alerts):
                notification, *rest = self._sink.pack(kept)
                notifications.extendleft(reversed(rest))
            items = [self._taken[a.alert_id] for a in notification.alerts]
            self._in_flight = frozenset(i.alert_id for i in items)
            error = await self._send(notification)
            self._limiter.record(self._clock.now_ns())
            if error is None:
                await self._record_sent(items)
                for item in items:
                    self._taken.pop(item.alert_id, None)
                self._in_flight = frozenset()
                continue
            # Retracted during this send: the remote may have it (a timeout tells nothing), so the
            # service has sent a correction; never retry it. Everything else still taken is retried.
            retracted = [i for i in items if i.alert_id not in self._taken]
            self._in_flight = frozenset()  # failed: a retraction from now on finds them unsent, to drop
            if retracted:
                await self._close_retracted(
                    [i.alert_id for i in retracted], f"retracted during a failed send: {error}"
                )
            if isinstance(error, PermanentError):
                await self._disable(str(error))
            else:
                await self._schedule_retry(list(self._taken.values()), error)
            return

    async def _wait_for_send_slot(self) -> None:
        while (wait_ns := self._limiter.wait_ns(self._clock.now_ns())) > 0:
            await self._sleep(wait_ns / _NS_PER_S)
        if self._paced is not None and (remote_wait_s := self._paced.next_allowed_in_s) > 0:
            await self._sleep(remote_wait_s)

    def _render_one(self, item: QueuedDelivery) -> RenderedAlert:
        if item.rerouted_from is None:
            return self._render_or_fallback(item, item.context)
        # Sink errors start with the channel's name, which the note already says.
        note = f"Rerouted from {item.rerouted_from}: {item.reroute_reason.removeprefix(item.rerouted_from + ': ')}"
        rendered = self._render_or_fallback(item, (note, *item.context))
        return msgspec.structs.replace(
            rendered, title=f"[rerouted from {item.rerouted_from}] {rendered.title}"
        )

    def _render_or_fallback(self, item: QueuedDelivery, context: Sequence[str]) -> RenderedAlert:
        try:
            with structlog.contextvars.bound_contextvars(alert_id=item.alert_id):
                return self._render(item.signal, item.alert_id, context)
        except Exception as e:
            if self._render_errors.should_log(f"{item.signal.kind}:{type(e).__name__}"):
                log.error(
                    "alert_render_failed",
                    channel=self.name,
                    kind=item.signal.kind,
                    alert_id=item.alert_id,
                    error=repr(e),
                )
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
        self._failing_since_ns = None
        self._sent += len(items)
        ALERTS.labels(channel=self.name, outcome="sent").inc(len(items))
        latency = BAR_CLOSE_TO_DELIVERED_S.labels(channel=self.name)
        market_now_ns = self._market_clock.now_ns()
        for item in items:
            # In wall seconds, also when the market is a simulated exchange on an accelerated clock.
            age_ns = market_now_ns - item.signal.window_end_ms * 1_000_000
            latency.observe(max(0.0, age_ns / _NS_PER_S / self._market_clock.rate))

    async def _schedule_retry(self, items: list[QueuedDelivery], error: Exception) -> None:
        retry_after_s = error.retry_after_s if isinstance(error, RetryableError) else None
        delay_s = retry_after_s if retry_after_s is not None else self._backoff.next_delay_s()
        now_ns = self._clock.now_ns()
        self._paused_until_ns = now_ns + int(delay_s * _NS_PER_S)
        self._last_error = str(error)
        if self._failing_since_ns is None:
            self._failing_since_ns = now_ns
        down_ns = now_ns - self._failing_since_ns
        if self._failover_after_ns is not None and down_ns >= self._failover_after_ns and self._fallbacks():
            # Everything pending here is rerouted in the store, so nothing stays queued in memory.
            queued = self._queue.drain()
            if await self._fail_over(f"down for {down_ns // _NS_PER_S}s: {error}") is not None:
                return
            self._queue.requeue(items + queued)  # the store kept them pending: retry them here
            return
        self._retries += len(items)
        ALERTS.labels(channel=self.name, outcome="retry").inc(len(items))
        # Back in the queue before the store write, so a retraction arriving meanwhile finds them there.
        self._queue.requeue(items)
        await self._store_write(
            self._store.mark_retry(
                self.name, [i.alert_id for i in items], self._last_error, self._paused_until_ns
            ),
            "retry",
        )
        log.warning(
            "alert_delivery_retry", channel=self.name, delay_s=round(delay_s, 3), error=self._last_error
        )

    async def _close_retracted(self, alert_ids: list[int], reason: str) -> None:
        ALERTS.labels(channel=self.name, outcome="retracted").inc(len(alert_ids))
        await self._store_write(self._store.mark_retracted(self.name, alert_ids, reason), "retracted")
        log.info("alert_delivery_retracted", channel=self.name, alert_ids=alert_ids, reason=reason)

    async def _disable(self, error: str) -> None:
        self.state = ChannelState.FAILED
        self._last_error = error
        dropped = self._queue.clear()
        # On a store error they stay pending in the store: a restart with the channel fixed delivers them.
        failed = await self._fail_over(error) or 0
        log.error("alert_channel_disabled", channel=self.name, error=error, failed=failed, queued=dropped)
        await self._on_disabled(self.name, error)

    async def reroute_pending(self) -> None:
        """After this channel failed: reroute deliveries persisted for it since (new alerts routed only
        here), for the same reason."""
        await self._fail_over(self._last_error)

    async def _fail_over(self, reason: str) -> int | None:
        """Fail this channel's pending deliveries with `reason` and reroute them to the live fallbacks.
        Returns how many failed, None when the store write failed (they are still pending there)."""
        try:
            failed, rerouted = await self._store.fail_over(
                self.name, reason, self._fallbacks(), self._clock.now_ns()
            )
        except Exception as e:
            self._on_store_result(e)
            if self._store_errors.should_log(f"fail_over:{type(e).__name__}"):
                log.error("alert_store_write_failed", channel=self.name, write="fail_over", error=repr(e))
            return None
        self._on_store_result(None)
        ALERTS.labels(channel=self.name, outcome="failed").inc(failed)
        ALERTS.labels(channel=self.name, outcome="rerouted").inc(len(rerouted))
        if not failed:
            return failed
        log.warning(
            "alert_channel_failed_over",
            channel=self.name,
            reason=reason,
            failed=failed,
            rerouted_to=sorted({r.channel for r in rerouted}),
            deliveries=len(rerouted),
        )
        self._on_rerouted(rerouted)
        return failed
