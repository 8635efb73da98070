"""Operator incidents: conditions that need a human, each announced once and its recovery once.

`OperatorWatch` is a pure state machine (no I/O, no clock reads; time comes from the events and the
`now_ns` arguments). Callers feed it what happened and send the `OperatorNotice`s it returns; the
`AlertService` delivers them straight to the fallback channels (they must get out even when the store
is what failed). Incidents, one per (kind, subject):

- CONNECTIONS_DOWN (subject: a source): no connection of that source has been CONNECTED for
  `connections_down_after_s`; resolved when one connects. Connections are what the source's
  `FeedStatus`es name, except "rest": REST is request/response and never reports CONNECTED, so it
  would make a source look down for good (its failures come as OPERATOR statuses instead).
- REST_BAN (subject: the source): a REST ban, which the REST client reports once per ban as an
  OPERATOR `FeedStatus` in state FAILED on connection "rest". Every ban is its own incident. REST
  reports no recovery, so there is no resolved note; the notice says how long REST is paused.
- FEED_OPERATOR (subject: "source/connection"): any other OPERATOR `FeedStatus` (a connection that
  gave up, a wallet WebSocket down too long); resolved when that connection reports CONNECTED.
- CHANNEL_DISABLED (subject: the channel): a permanent delivery error disabled it until restart.
- STORE_UNWRITABLE (subject: "store"): `store_failures_before_alert` consecutive failed writes;
  resolved by the next successful write.
- TASK_FAILED (subject: the task's name): a supervised task died and is being restarted; resolved when
  it has run again for a while (the supervisor decides). Its reminders follow `repeat_interval_s`.
- UNHANDLED_ERROR (subject: where it happened): an exception nothing handled (the event loop's
  handler, an event the pipeline could not process). No recovery; reminded after `repeat_interval_s`.

An incident that is still open and triggers again is announced again only after `repeat_interval_s`
(Alertmanager's repeat_interval), so a condition that never reports recovery still reminds, rarely.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec

from cryptoradar.alerts.wallet import OPERATOR_DETECTOR
from cryptoradar.events import ConnectionState, Direction, FeedStatus, Severity, Signal, StatusLevel

_NS_PER_S = 1_000_000_000
_REST_CONNECTION = "rest"
STORE_SUBJECT = "store"


class IncidentKind(StrEnum):
    CONNECTIONS_DOWN = "connections_down"
    REST_BAN = "rest_ban"
    FEED_OPERATOR = "feed_operator"
    CHANNEL_DISABLED = "channel_disabled"
    STORE_UNWRITABLE = "store_unwritable"
    TASK_FAILED = "task_failed"
    UNHANDLED_ERROR = "unhandled_error"


class NoticeState(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class OperatorNotice(msgspec.Struct, frozen=True):
    """One message to the operator: an incident opened (or reminded), or resolved."""

    kind: IncidentKind
    subject: str
    state: NoticeState
    summary: str
    detail: str
    since_ns: int
    """When the incident began."""
    ts_ns: int
    """When this notice was produced."""


class _Incident(msgspec.Struct):
    since_ns: int
    notified_at_ns: int


class OperatorWatch:
    """See the module docstring. Every `on_*`/`poll` call returns the notices to send now (often none)."""

    def __init__(
        self,
        *,
        connections_down_after_s: float,
        store_failures_before_alert: int = 3,
        repeat_interval_s: float = 4 * 3600.0,
    ) -> None:
        self._down_after_ns = int(connections_down_after_s * _NS_PER_S)
        self._store_failures_before_alert = max(1, store_failures_before_alert)
        self._repeat_ns = int(repeat_interval_s * _NS_PER_S)
        self._connections: dict[str, dict[str, ConnectionState]] = {}
        self._down_since_ns: dict[str, int] = {}
        self._open: dict[tuple[IncidentKind, str], _Incident] = {}
        self._store_failures = 0
        self._store_failing_since_ns = 0

    @property
    def open_incidents(self) -> list[tuple[IncidentKind, str]]:
        return sorted(self._open)

    # --- inputs ----------------------------------------------------------------------------------

    def on_status(self, status: FeedStatus) -> list[OperatorNotice]:
        now_ns = status.ts_event_ns
        notices = [] if status.connection_id == _REST_CONNECTION else self._track_connection(status)
        if status.level is not StatusLevel.OPERATOR:
            return notices
        if status.connection_id == _REST_CONNECTION and status.state is ConnectionState.FAILED:
            notices.append(
                OperatorNotice(
                    IncidentKind.REST_BAN,
                    status.source,
                    NoticeState.OPEN,
                    f"{status.source}: REST banned",
                    status.reason,
                    now_ns,
                    now_ns,
                )
            )
            return notices
        subject = f"{status.source}/{status.connection_id}"
        notices += self._open_incident(
            IncidentKind.FEED_OPERATOR, subject, now_ns, f"{subject}: {status.state}", status.reason
        )
        return notices

    def on_channel_disabled(self, channel: str, error: str, now_ns: int) -> list[OperatorNotice]:
        return self._open_incident(
            IncidentKind.CHANNEL_DISABLED,
            channel,
            now_ns,
            f"alert channel {channel} disabled",
            f"{error[:500]}; its pending alerts are rerouted to the fallback channels (listed by "
            "`cryptoradar alerts list --failed`), as are new ones, until the configuration is fixed and "
            "the service restarted",
        )

    def on_store_error(self, error: str, now_ns: int) -> list[OperatorNotice]:
        if self._store_failures == 0:
            self._store_failing_since_ns = now_ns
        self._store_failures += 1
        if self._store_failures < self._store_failures_before_alert:
            return []
        return self._open_incident(
            IncidentKind.STORE_UNWRITABLE,
            STORE_SUBJECT,
            self._store_failing_since_ns,
            "alert store unwritable",
            f"{self._store_failures} consecutive writes failed; last error: {error[:500]}. "
            "New alerts cannot be persisted and are not delivered until it recovers",
            now_ns=now_ns,
        )

    def on_store_ok(self, now_ns: int) -> list[OperatorNotice]:
        self._store_failures = 0
        return self._resolve(
            IncidentKind.STORE_UNWRITABLE, STORE_SUBJECT, now_ns, "alert store writable again"
        )

    def on_task_failed(self, task: str, error: str, restart_in_s: float, now_ns: int) -> list[OperatorNotice]:
        return self._open_incident(
            IncidentKind.TASK_FAILED,
            task,
            now_ns,
            f"task {task} died",
            f"{error[:500]}; restarting it in {restart_in_s:.1f} s. If it cannot recover, the process "
            "exits non-zero so its service manager restarts it",
        )

    def on_task_recovered(self, task: str, now_ns: int) -> list[OperatorNotice]:
        return self._resolve(IncidentKind.TASK_FAILED, task, now_ns, f"task {task} running again")

    def on_unhandled_error(self, where: str, error: str, now_ns: int) -> list[OperatorNotice]:
        # Never resolved: the open incident only rate-limits how often the same place is announced.
        return self._open_incident(
            IncidentKind.UNHANDLED_ERROR, where, now_ns, f"unhandled error in {where}", error[:500]
        )

    def poll(self, now_ns: int) -> list[OperatorNotice]:
        """Time-based openings: sources whose connections have all been down long enough."""
        notices: list[OperatorNotice] = []
        for source, since_ns in sorted(self._down_since_ns.items()):
            if now_ns - since_ns < self._down_after_ns:
                continue
            if (IncidentKind.CONNECTIONS_DOWN, source) in self._open:
                continue
            minutes = (now_ns - since_ns) / (60 * _NS_PER_S)
            states = ", ".join(f"{c}={s}" for c, s in sorted(self._connections[source].items()))
            notices += self._open_incident(
                IncidentKind.CONNECTIONS_DOWN,
                source,
                since_ns,
                f"{source}: all connections down for {minutes:.1f} min",
                f"no connection of {source} is connected ({states}); no market data arrives",
                now_ns=now_ns,
            )
        return notices

    # --- internals -------------------------------------------------------------------------------

    def _track_connection(self, status: FeedStatus) -> list[OperatorNotice]:
        source, now_ns = status.source, status.ts_event_ns
        connections = self._connections.setdefault(source, {})
        connections[status.connection_id] = status.state
        notices: list[OperatorNotice] = []
        if status.state is ConnectionState.CONNECTED:
            self._down_since_ns.pop(source, None)
            notices += self._resolve(
                IncidentKind.CONNECTIONS_DOWN, source, now_ns, f"{source}: connected again"
            )
            subject = f"{source}/{status.connection_id}"
            notices += self._resolve(
                IncidentKind.FEED_OPERATOR, subject, now_ns, f"{subject}: connected again"
            )
        elif source not in self._down_since_ns and ConnectionState.CONNECTED not in connections.values():
            self._down_since_ns[source] = now_ns
        return notices

    def _open_incident(
        self,
        kind: IncidentKind,
        subject: str,
        since_ns: int,
        summary: str,
        detail: str,
        *,
        now_ns: int | None = None,
    ) -> list[OperatorNotice]:
        now = since_ns if now_ns is None else now_ns
        incident = self._open.get((kind, subject))
        if incident is None:
            self._open[(kind, subject)] = _Incident(since_ns, now)
            return [OperatorNotice(kind, subject, NoticeState.OPEN, summary, detail, since_ns, now)]
        if now - incident.notified_at_ns < self._repeat_ns:
            return []
        incident.notified_at_ns = now
        return [OperatorNotice(kind, subject, NoticeState.OPEN, summary, detail, incident.since_ns, now)]

    def _resolve(self, kind: IncidentKind, subject: str, now_ns: int, summary: str) -> list[OperatorNotice]:
        incident = self._open.pop((kind, subject), None)
        if incident is None:
            return []
        minutes = max(0, now_ns - incident.since_ns) / (60 * _NS_PER_S)
        detail = f"resolved after {minutes:.1f} min"
        return [
            OperatorNotice(kind, subject, NoticeState.RESOLVED, summary, detail, incident.since_ns, now_ns)
        ]


def operator_signal(notice: OperatorNotice) -> Signal:
    """The notice as a Signal, so the channels' templates (operator.j2) render it."""
    ts_ms = notice.ts_ns // 1_000_000
    return Signal(
        detector=OPERATOR_DETECTOR,
        rule_version=1,
        kind=notice.kind.value,
        symbol=notice.subject,
        timeframe="",
        window_start_ms=notice.since_ns // 1_000_000,
        window_end_ms=ts_ms,
        direction=Direction.NEUTRAL,
        severity=Severity.CRITICAL if notice.state is NoticeState.OPEN else Severity.INFO,
        conditions=(),
        metrics={},
        labels={
            "state": notice.state.value,
            "subject": notice.subject,
            "summary": notice.summary,
            "detail": notice.detail,
        },
        symbols=(),
        ts_event_ns=notice.ts_ns,
    )
