"""What the alert pipeline hands to a sink: rendered alerts for one channel.

This is the seam between `alerts` (which renders and schedules) and `sinks` (which pack and send);
neither imports the other. A sink reports failure by raising `core.errors.RetryableError` (with
`retry_after_s` when the remote said) or `core.errors.PermanentError`.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import msgspec

from cryptoradar.events import Severity


class RenderedAlert(msgspec.Struct, frozen=True, gc=False):
    """One alert rendered by the channel's template.

    `body` is already in the channel's markup (HTML for Telegram and email, plain text for Discord
    embed descriptions and logs) with every untrusted string escaped. `fields` are label/value pairs
    (Discord embed fields, labelled columns elsewhere).
    """

    alert_id: int
    severity: Severity
    title: str
    body: str
    fields: tuple[tuple[str, str], ...]
    color: int
    ts_event_ns: int
    body_html: str = ""
    """HTML alternative (email); empty when the channel has none."""


class Notification(msgspec.Struct, frozen=True, gc=False):
    """One request's worth of alerts for one channel (a group that already fits the channel's limits)."""

    channel: str
    alerts: tuple[RenderedAlert, ...]


class Sink(Protocol):
    """A delivery channel. `pack` splits alerts into notifications within the channel's size limits,
    on alert boundaries; `send` delivers one notification or raises a classified error."""

    name: str

    def pack(self, alerts: list[RenderedAlert]) -> list[Notification]: ...

    async def send(self, notification: Notification) -> None: ...

    async def close(self) -> None: ...


@runtime_checkable
class ServerPacedSink(Protocol):
    """A sink whose remote says when the next request may go (Discord's `X-RateLimit-Remaining: 0` with
    `X-RateLimit-Reset-After`); the delivery worker waits that long on top of its own limits, so a
    remote bucket smaller than the configured one costs a wait, not a 429."""

    @property
    def next_allowed_in_s(self) -> float: ...
