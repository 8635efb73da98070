"""The periodic `health_summary` log event (the numbers for `api.summary`) and the pipeline liveness check."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence

import msgspec
import structlog

from cryptoradar.api.ports import Liveness
from cryptoradar.api.summary import (
    ErrorWindow,
    HealthSummary,
    SummaryInputs,
    deliveries_from_counters,
    health_summary,
)
from cryptoradar.api.views import ConnectionView
from cryptoradar.core.clock import Clock
from cryptoradar.core.metrics import ALERTS
from cryptoradar.events import FeedStatus, Signal, StatusLevel

log = structlog.get_logger(__name__)


class HealthTracker:
    """What the summary needs that no other component keeps: started time, signal directions, data
    recency and recent errors. Updated from the pipeline (cheap, synchronous)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.started_ns = clock.now_ns()
        self.signals_by_direction: Counter[str] = Counter()
        self.last_data_ns: int | None = None
        self.errors = ErrorWindow()

    def on_data(self, ts_recv_ns: int) -> None:
        self.last_data_ns = ts_recv_ns

    def on_signal(self, signal: Signal) -> None:
        self.signals_by_direction[str(signal.direction)] += 1

    def on_status(self, status: FeedStatus) -> None:
        if status.level is not StatusLevel.INFO:
            self.errors.record(self._clock.now_ns())

    def on_error(self) -> None:
        self.errors.record(self._clock.now_ns())

    def summary(self, connections: Sequence[ConnectionView]) -> HealthSummary:
        now_ns = self._clock.now_ns()
        samples = [
            (s.labels, s.value)
            for metric in ALERTS.collect()
            for s in metric.samples
            if s.name == "cryptoradar_alerts_total"
        ]
        return health_summary(
            SummaryInputs(
                now_ns=now_ns,
                started_ns=self.started_ns,
                signals_by_direction=dict(self.signals_by_direction),
                last_data_ns=self.last_data_ns,
                connections=list(connections),
                errors_last_hour=self.errors.count(now_ns),
                deliveries=deliveries_from_counters(samples),
            )
        )


class PipelineLiveness:
    """The liveness check behind `/healthz`: alive unless events are queued and the pipeline has taken
    none for `stall_s` (it is stuck in one, or dead and not yet restarted). An idle pipeline with an
    empty queue is alive however long it waits.

    The pipeline only counts what it takes (no clock read per event); each check compares the count
    with the previous check's and dates the last change it saw, so a stall shows from the first check
    that finds the count unchanged for `stall_s`."""

    def __init__(
        self, queued: Callable[[], int], stall_s: float, now_s: Callable[[], float] = time.monotonic
    ) -> None:
        self._queued = queued
        self._stall_s = stall_s
        self._now_s = now_s
        self.taken = 0
        self._seen_taken = 0
        self._advanced_s = now_s()

    def advanced(self) -> None:
        """The pipeline took an event (or finished one)."""
        self.taken += 1

    def check(self) -> Liveness:
        now_s = self._now_s()
        if self.taken != self._seen_taken:
            self._seen_taken = self.taken
            self._advanced_s = now_s
        queued = self._queued()
        still_s = now_s - self._advanced_s
        if queued and still_s > self._stall_s:
            return Liveness(
                False,
                f"pipeline stalled: {queued} events queued and none taken for {still_s:.0f} s "
                f"(lifecycle.pipeline_stall_s = {self._stall_s:g})",
            )
        return Liveness(True, f"pipeline advancing ({queued} events queued)")


class ErrorLogCounter(logging.Handler):
    """A root-logger handler counting every ERROR-or-worse record (ours through structlog, and any
    library's) in the tracker, so the summary's "errors in the last hour" matches what the log shows."""

    def __init__(self, tracker: HealthTracker) -> None:
        super().__init__(logging.ERROR)
        self._tracker = tracker

    def emit(self, record: logging.LogRecord) -> None:
        self._tracker.on_error()

    def install(self) -> None:
        logging.getLogger().addHandler(self)

    def remove(self) -> None:
        logging.getLogger().removeHandler(self)


async def log_health_summaries(
    tracker: HealthTracker,
    connections: Callable[[], Sequence[ConnectionView]],
    interval_s: float,
    on_summary: Callable[[HealthSummary], None] | None = None,
) -> None:
    """Forever: every `interval_s`, one structured `health_summary` event (and `on_summary`, if given)."""
    while True:
        await asyncio.sleep(interval_s)
        summary = tracker.summary(connections())
        log.info("health_summary", **msgspec.structs.asdict(summary), text=summary.render())
        if on_summary is not None:
            on_summary(summary)
