"""Operator alerts at run time: `OperatorDesk` feeds the pure `OperatorWatch`, queues the notices it
returns and `FallbackNotifier` sends them straight to the fallback channels' sinks, bypassing the outbox.

Why not the outbox: one of the incidents is "the store is unwritable", and a notice that has to be
persisted first would never leave. The price is that a notice in flight when the process dies is lost
(the condition is detected again after restart). Channels are tried concurrently, so a slow SMTP
server does not hold back the log file; each gets `attempts` tries on transient errors.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import msgspec
import structlog
from prometheus_client import Counter

from cryptoradar.alerts.delivery import Sleep
from cryptoradar.alerts.operator import IncidentKind, OperatorNotice, OperatorWatch, operator_signal
from cryptoradar.alerts.render import Renderer
from cryptoradar.config.alerts import ChannelType, OperatorAlertsConfig
from cryptoradar.core.backoff import Backoff
from cryptoradar.core.clock import Clock
from cryptoradar.core.errors import PermanentError, RetryableError
from cryptoradar.core.metrics import REGISTRY
from cryptoradar.events import FeedStatus
from cryptoradar.notifications import Sink

log = structlog.get_logger(__name__)

OPERATOR_NOTICES = Counter(
    "cryptoradar_operator_notices_total",
    "Operator notices raised, by incident kind and state (open or resolved)",
    ["kind", "state"],
    registry=REGISTRY,
)


class FallbackChannel(msgspec.Struct, frozen=True):
    name: str
    sink: Sink
    type: ChannelType
    send_timeout_s: float
    """The channel's own `send_timeout_s` (an e-mail channel's covers its SMTP retries)."""


class FallbackNotifier:
    def __init__(
        self,
        renderer: Renderer,
        *,
        attempts: int,
        retry_initial_s: float,
        retry_max_s: float,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._renderer = renderer
        self._attempts = attempts
        self._retry_initial_s = retry_initial_s
        self._retry_max_s = max(retry_initial_s, retry_max_s)
        self._sleep = sleep

    async def send(self, notice: OperatorNotice, channels: Sequence[FallbackChannel]) -> list[str]:
        """Deliver `notice` to every channel; returns the names that accepted it."""
        outcomes = await asyncio.gather(*(self._send_one(notice, c) for c in channels))
        delivered = [c.name for c, ok in zip(channels, outcomes, strict=True) if ok]
        log.info(
            "operator_notice_sent",
            kind=notice.kind.value,
            subject=notice.subject,
            state=notice.state.value,
            delivered=delivered,
            failed=[c.name for c in channels if c.name not in delivered],
        )
        return delivered

    async def _send_one(self, notice: OperatorNotice, channel: FallbackChannel) -> bool:
        backoff = Backoff(self._retry_initial_s, self._retry_max_s)
        for attempt in range(1, self._attempts + 1):
            try:
                rendered = self._renderer.render(operator_signal(notice), 0, channel.type)
                for notification in channel.sink.pack([rendered]):
                    await asyncio.wait_for(channel.sink.send(notification), timeout=channel.send_timeout_s)
                return True
            except asyncio.CancelledError:
                raise
            except PermanentError as e:
                log.error("operator_notice_failed", channel=channel.name, error=str(e), attempt=attempt)
                return False
            except Exception as e:  # retryable, a timeout, or an unclassified sink error
                retry_after_s = e.retry_after_s if isinstance(e, RetryableError) else None
                log.warning("operator_notice_retry", channel=channel.name, error=repr(e), attempt=attempt)
                if attempt < self._attempts:
                    await self._sleep(retry_after_s if retry_after_s is not None else backoff.next_delay_s())
        return False


class OperatorDesk:
    """Incidents in, notices out: every `on_*` call is synchronous and cheap (it only queues); `run_sender`
    and `run_poller` are the two long-lived tasks the owner supervises. `channels_for(notice)` says
    where a notice may go right now (the owner knows which channels are alive)."""

    def __init__(
        self,
        config: OperatorAlertsConfig,
        notifier: FallbackNotifier,
        clock: Clock,
        channels_for: Callable[[OperatorNotice], list[FallbackChannel]],
        *,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._config = config
        self._notifier = notifier
        self._clock = clock
        self._channels_for = channels_for
        self._sleep = sleep
        self._watch = OperatorWatch(
            connections_down_after_s=config.connections_down_after_s,
            store_failures_before_alert=config.store_failures_before_alert,
            repeat_interval_s=config.repeat_interval_s,
        )
        self._queue: list[OperatorNotice] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()

    def on_status(self, status: FeedStatus) -> None:
        self._raise(self._watch.on_status(status))

    def on_channel_disabled(self, channel: str, error: str) -> None:
        self._raise(self._watch.on_channel_disabled(channel, error, self._clock.now_ns()))

    def on_store_result(self, error: str | None) -> None:
        now_ns = self._clock.now_ns()
        if error is None:
            self._raise(self._watch.on_store_ok(now_ns))
        else:
            self._raise(self._watch.on_store_error(error, now_ns))

    def on_task_failed(self, task: str, error: str, restart_in_s: float) -> None:
        self._raise(self._watch.on_task_failed(task, error, restart_in_s, self._clock.now_ns()))

    def on_task_recovered(self, task: str) -> None:
        self._raise(self._watch.on_task_recovered(task, self._clock.now_ns()))

    def on_unhandled_error(self, where: str, error: str) -> None:
        self._raise(self._watch.on_unhandled_error(where, error, self._clock.now_ns()))

    @property
    def open_incidents(self) -> list[tuple[IncidentKind, str]]:
        return self._watch.open_incidents

    async def wait_idle(self) -> None:
        """Return once every queued notice has been attempted."""
        await self._idle.wait()

    def _raise(self, notices: list[OperatorNotice]) -> None:
        for notice in notices:
            OPERATOR_NOTICES.labels(kind=notice.kind.value, state=notice.state.value).inc()
            log.critical(
                "operator_alert",
                kind=notice.kind.value,
                subject=notice.subject,
                state=notice.state.value,
                summary=notice.summary,
                detail=notice.detail,
            )
        if notices:
            self._queue.extend(notices)
            self._idle.clear()
            self._wake.set()

    async def run_sender(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                notice = self._queue.pop(0)
                channels = self._channels_for(notice)
                if channels:
                    await self._notifier.send(notice, channels)
                else:
                    log.error("operator_notice_no_channel", kind=notice.kind.value, subject=notice.subject)
            self._idle.set()

    async def run_poller(self) -> None:
        while True:
            await self._sleep(self._config.poll_interval_s)
            self._raise(self._watch.poll(self._clock.now_ns()))
