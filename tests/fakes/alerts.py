"""RenderedAlert builders shared by the sink tests, and a running AlertService over the real sinks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from cryptoradar.alerts.service import AlertService
from cryptoradar.config.alerts import AlertsConfig
from cryptoradar.core.clock import SystemClock
from cryptoradar.events import Severity
from cryptoradar.notifications import RenderedAlert
from cryptoradar.sinks import build_sink
from cryptoradar.storage.sqlite import SqliteStore

TS_EVENT_NS = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z
HOSTILE_LABEL = "<b>@everyone</b> _*[]()~`>#+-=|{}.!& \\"
"""Every markup special we know of: HTML tags, a mass mention, MarkdownV2 specials, a bare ampersand."""


def sample_alert(
    alert_id: int = 1,
    *,
    title: str = "BTCUSDT long breakout",
    body: str = "Close above the 20-bar high on 3x volume.",
    fields: tuple[tuple[str, str], ...] = (("Entry", "97000.5"), ("SL", "96100"), ("TP1", "98500")),
    severity: Severity = Severity.HIGH,
    body_html: str = "",
) -> RenderedAlert:
    return RenderedAlert(
        alert_id=alert_id,
        severity=severity,
        title=title,
        body=body,
        fields=fields,
        color=0x2ECC71,
        ts_event_ns=TS_EVENT_NS + alert_id * 1_000_000_000,
        body_html=body_html,
    )


@asynccontextmanager
async def running_service(
    config: AlertsConfig, db_path: Path
) -> AsyncIterator[tuple[AlertService, SqliteStore]]:
    """A started AlertService with the real sink of every configured channel over a SQLite outbox at
    `db_path`; on exit it flushes for up to 2 s, stops and closes the store."""
    sinks = {name: build_sink(name, channel) for name, channel in config.channels.items()}
    store = SqliteStore(db_path)
    await store.open()
    service = AlertService(config, store, sinks, SystemClock())
    await service.start()
    try:
        yield service, store
    finally:
        await service.stop(2.0)
        await store.close()
