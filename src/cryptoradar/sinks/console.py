"""Console sink: alerts printed with rich, coloured by severity.

Text is rendered as `rich.text.Text`, never parsed as rich markup, so an untrusted `[bold]` or
`[link=...]` in a symbol or label prints literally.
"""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Console
from rich.text import Text

from cryptoradar.events import Severity
from cryptoradar.notifications import Notification, RenderedAlert

SEVERITY_STYLE: dict[Severity, str] = {
    Severity.INFO: "cyan",
    Severity.WARNING: "yellow",
    Severity.HIGH: "bold red",
    Severity.CRITICAL: "bold white on red",
}


def render_console(alert: RenderedAlert) -> Text:
    event_time = datetime.fromtimestamp(alert.ts_event_ns / 1e9, tz=UTC).strftime("%H:%M:%S")
    text = Text()
    text.append(f"{event_time} ", style="dim")
    text.append(f"{alert.severity.upper():<8} ", style=SEVERITY_STYLE[alert.severity])
    text.append(alert.title, style="bold")
    text.append(f"  #{alert.alert_id}\n", style="dim")
    # The body already carries every value; `fields` are for structured channels (webhook, log).
    if alert.body:
        text.append(alert.body + "\n")
    return text


class ConsoleSink:
    """Prints every alert; has no size limit, so `pack` returns one notification."""

    def __init__(self, console: Console | None = None, *, name: str = "console") -> None:
        self.name = name
        self._console = console or Console(highlight=False)

    def pack(self, alerts: list[RenderedAlert]) -> list[Notification]:
        return [Notification(channel=self.name, alerts=tuple(alerts))] if alerts else []

    async def send(self, notification: Notification) -> None:
        for alert in notification.alerts:
            self._console.print(render_console(alert), highlight=False, end="")

    async def close(self) -> None:
        """Nothing to release: the console is not owned."""
