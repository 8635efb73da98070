"""RenderedAlert builders shared by the sink tests."""

from __future__ import annotations

from cryptoradar.events import Severity
from cryptoradar.notifications import RenderedAlert

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
