"""JSON-lines file sink (the `log` channel): one line per alert, appended.

Durability policy: each notification's lines are written in one `write` call and flushed; with
`fsync=FsyncPolicy.EVERY_NOTIFICATION` (the default) the file is also fsynced before `send` returns, so a
line that `send` reported as written survives a crash or power loss. Alerts are rare, so the cost is small;
`FsyncPolicy.NEVER` leaves write-back to the OS. Writes run in a worker thread so the loop never blocks on
the disk. No rotation: point an external rotator at the file (it is reopened on `close()` only).

`StructlogSink` is the `log` channel without a path: one structured log event per alert.

This sink is the fallback channel, so it raises only what a retry could fix (`RetryableError` for
disk-full and other I/O errors) or what configuration must fix (`PermanentError` for a path that is a
directory or not writable).
"""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from enum import StrEnum
from io import BufferedWriter
from pathlib import Path

import msgspec
import structlog

from cryptoradar.core.clock import Clock, SystemClock
from cryptoradar.core.errors import PermanentError, RetryableError
from cryptoradar.notifications import Notification, RenderedAlert

_log = structlog.get_logger(__name__)


class FsyncPolicy(StrEnum):
    EVERY_NOTIFICATION = "every_notification"
    NEVER = "never"


class AlertLine(msgspec.Struct, frozen=True):
    """One line of the file."""

    logged_at: str
    channel: str
    alert_id: int
    severity: str
    title: str
    body: str
    fields: dict[str, str]
    ts_event_ns: int


def alert_line(channel: str, alert: RenderedAlert, logged_at: str) -> AlertLine:
    return AlertLine(
        logged_at=logged_at,
        channel=channel,
        alert_id=alert.alert_id,
        severity=alert.severity.value,
        title=alert.title,
        body=alert.body,
        fields=dict(alert.fields),
        ts_event_ns=alert.ts_event_ns,
    )


class JsonLinesSink:
    """Appends alerts to `path` as JSON lines (parent folders are created)."""

    def __init__(
        self,
        path: Path,
        *,
        fsync: FsyncPolicy = FsyncPolicy.EVERY_NOTIFICATION,
        name: str = "log",
        clock: Clock | None = None,
    ) -> None:
        self.name = name
        self.path = path
        self._fsync = fsync
        self._clock = clock or SystemClock()
        self._file: BufferedWriter | None = None
        self._lock = asyncio.Lock()

    def pack(self, alerts: list[RenderedAlert]) -> list[Notification]:
        return [Notification(channel=self.name, alerts=tuple(alerts))] if alerts else []

    def encode(self, notification: Notification) -> bytes:
        logged_at = datetime.fromtimestamp(self._clock.now_ns() / 1e9, tz=UTC).isoformat()
        encoder = msgspec.json.Encoder()
        return b"".join(
            encoder.encode(alert_line(self.name, a, logged_at)) + b"\n" for a in notification.alerts
        )

    async def send(self, notification: Notification) -> None:
        if not notification.alerts:
            return
        data = self.encode(notification)
        async with self._lock:
            try:
                await asyncio.to_thread(self._write, data)
            except (IsADirectoryError, NotADirectoryError, PermissionError) as e:
                raise PermanentError(f"{self.name}: cannot write {self.path} ({type(e).__name__})") from e
            except OSError as e:
                raise RetryableError(f"{self.name}: write to {self.path} failed ({e.strerror})") from e

    def _write(self, data: bytes) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "ab")  # noqa: SIM115 - kept open across sends, closed in close()
        self._file.write(data)
        self._file.flush()
        if self._fsync is FsyncPolicy.EVERY_NOTIFICATION:
            os.fsync(self._file.fileno())

    async def close(self) -> None:
        async with self._lock:
            if self._file is not None:
                await asyncio.to_thread(self._file.close)
                self._file = None


class StructlogSink:
    """Emits one `alert` log event per alert through structlog (the `log` channel without a file), with
    the same keys as a JSON line."""

    def __init__(self, *, name: str = "log", clock: Clock | None = None) -> None:
        self.name = name
        self._clock = clock or SystemClock()

    def pack(self, alerts: list[RenderedAlert]) -> list[Notification]:
        return [Notification(channel=self.name, alerts=tuple(alerts))] if alerts else []

    async def send(self, notification: Notification) -> None:
        logged_at = datetime.fromtimestamp(self._clock.now_ns() / 1e9, tz=UTC).isoformat()
        for a in notification.alerts:
            _log.info("alert", **msgspec.structs.asdict(alert_line(self.name, a, logged_at)))

    async def close(self) -> None:
        """Nothing to release."""
