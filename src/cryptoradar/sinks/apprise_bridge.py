"""Apprise sink for every service without a dedicated sink (Slack, ntfy, Pushover, Matrix, ...).

Apprise is synchronous, so `notify` runs in a worker thread. It reports only a boolean: `False` (some
service failed) is mapped to `RetryableError` because the cause cannot be told apart. Apprise URLs hold
credentials, so they are taken as `SecretStr` and never appear in messages.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import apprise
from pydantic import SecretStr

from cryptoradar.core.errors import ConfigError, RetryableError
from cryptoradar.notifications import Notification, RenderedAlert
from cryptoradar.sinks._limits import pack_greedy


def render_plain(alert: RenderedAlert) -> str:
    lines = [alert.body, *(f"{name}: {value}" for name, value in alert.fields), f"alert #{alert.alert_id}"]
    return "\n".join(line for line in lines if line)


class AppriseSink:
    """Sends each notification (a digest of up to `max_alerts_per_message`) to all `urls` as plain text."""

    def __init__(
        self, urls: Sequence[SecretStr], *, name: str = "apprise", max_alerts_per_message: int = 10
    ) -> None:
        self.name = name
        self._max_alerts = max_alerts_per_message
        self._apprise = apprise.Apprise()
        for index, url in enumerate(urls):
            if not self._apprise.add(url.get_secret_value()):
                raise ConfigError(f"{name}: urls[{index}] is not a URL Apprise understands (value redacted)")

    def pack(self, alerts: list[RenderedAlert]) -> list[Notification]:
        return pack_greedy(self.name, alerts, lambda _: 1, self._max_alerts)

    async def send(self, notification: Notification) -> None:
        alerts = notification.alerts
        if not alerts:
            return
        title = alerts[0].title if len(alerts) == 1 else f"{len(alerts)} alerts: {alerts[0].title}"
        body = "\n\n".join(
            f"{a.title}\n{render_plain(a)}" if len(alerts) > 1 else render_plain(a) for a in alerts
        )
        delivered = await asyncio.to_thread(
            self._apprise.notify, body=body, title=title, body_format=apprise.NotifyFormat.TEXT
        )
        if not delivered:
            raise RetryableError(f"{self.name}: at least one Apprise service failed")

    async def close(self) -> None:
        """Nothing to release: Apprise opens connections per notify."""
