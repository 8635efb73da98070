"""Discord webhook sink: one message of up to 10 embeds per notification.

Limits (Discord docs, counted in code points after trimming): title 256, description 4096, 25 fields of
name 256 / value 1024, footer 2048, 10 embeds and 6000 characters summed over all embeds of a message.
Over-long items are truncated with an ellipsis at whitespace (`truncate_text`); `pack` splits on alert
boundaries so no message passes the 10-embed / 6000-character budget.

Escaping: `RenderedAlert.body` is plain text for Discord. Discord renders markdown but mentions inside
embeds never ping, and `allowed_mentions = {"parse": []}` is sent anyway, so an untrusted `@everyone`
is inert. No `content` is sent.

Rate limits: every response's `X-RateLimit-Remaining` / `X-RateLimit-Reset-After` are read; when the bucket
is empty `next_allowed_in_s` says how long the caller should wait before the next `send`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import aiohttp
import msgspec
from pydantic import SecretStr
from yarl import URL

from cryptoradar.core.clock import Clock, SystemClock
from cryptoradar.core.errors import PermanentError, RetryableError
from cryptoradar.notifications import Notification, RenderedAlert
from cryptoradar.sinks._http import HttpPoster, HttpReply, parse_retry_after_s
from cryptoradar.sinks._limits import pack_greedy, truncate_text

TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELDS_MAX = 25
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
EMBEDS_PER_MESSAGE_MAX = 10
MESSAGE_EMBED_CHARS_MAX = 6000


class EmbedField(msgspec.Struct, frozen=True):
    name: str
    value: str
    inline: bool = True


class EmbedFooter(msgspec.Struct, frozen=True):
    text: str


class Embed(msgspec.Struct, frozen=True, omit_defaults=True):
    """Empty text members are left out of the JSON rather than sent as empty strings."""

    color: int
    timestamp: str
    footer: EmbedFooter
    title: str = ""
    description: str = ""
    fields: tuple[EmbedField, ...] = ()

    @property
    def char_count(self) -> int:
        """What Discord counts toward the 6000-character message budget."""
        return (
            len(self.title)
            + len(self.description)
            + len(self.footer.text)
            + sum(len(f.name) + len(f.value) for f in self.fields)
        )


class AllowedMentions(msgspec.Struct, frozen=True):
    parse: tuple[str, ...] = ()


class WebhookMessage(msgspec.Struct, frozen=True):
    username: str
    embeds: tuple[Embed, ...]
    allowed_mentions: AllowedMentions = AllowedMentions()


class _ErrorBody(msgspec.Struct):
    message: str = ""
    code: int = 0
    retry_after: float | None = None
    is_global: bool = msgspec.field(default=False, name="global")


def build_embed(alert: RenderedAlert) -> Embed:
    """The embed for one alert, truncated so that it alone fits every Discord limit."""
    title = truncate_text(alert.title.strip(), TITLE_MAX)
    footer = EmbedFooter(text=f"alert #{alert.alert_id}")
    fields = [
        EmbedField(
            name=truncate_text(name.strip(), FIELD_NAME_MAX) or "-",
            value=truncate_text(value.strip(), FIELD_VALUE_MAX) or "-",
        )
        for name, value in alert.fields[:FIELDS_MAX]
    ]

    def fixed_chars() -> int:
        return len(title) + len(footer.text) + sum(len(f.name) + len(f.value) for f in fields)

    # Fields (entry, stop, targets) matter more than prose: the description gives way first, then the
    # trailing fields when even an empty description would not fit.
    while fields and fixed_chars() > MESSAGE_EMBED_CHARS_MAX:
        fields.pop()
    description_max = min(DESCRIPTION_MAX, MESSAGE_EMBED_CHARS_MAX - fixed_chars())
    timestamp = datetime.fromtimestamp(alert.ts_event_ns / 1e9, tz=UTC).isoformat()
    return Embed(
        title=title,
        description=truncate_text(alert.body.strip(), description_max),
        color=alert.color & 0xFFFFFF,
        timestamp=timestamp,
        footer=footer,
        fields=tuple(fields),
    )


class DiscordSink:
    """Posts to one Discord webhook with `?wait=true` (a 200 with the message is a real confirmation)."""

    def __init__(
        self,
        webhook_url: SecretStr,
        username: str = "cryptoradar",
        session: aiohttp.ClientSession | None = None,
        *,
        name: str = "discord",
        timeout_s: float = 10.0,
        clock: Clock | None = None,
    ) -> None:
        self.name = name
        self._url = str(URL(webhook_url.get_secret_value()).update_query(wait="true"))
        self._username = username[:80] or "cryptoradar"
        self._http = HttpPoster(name, session, timeout_s)
        self._clock = clock or SystemClock()
        self._blocked_until_monotonic_s = 0.0
        self.last_message_id: str | None = None
        """Id of the last message Discord confirmed (needed to edit it later)."""

    @property
    def next_allowed_in_s(self) -> float:
        """Seconds to wait before the next `send` so as not to hit the webhook's rate limit (0 = now)."""
        return max(0.0, self._blocked_until_monotonic_s - time.monotonic())

    def pack(self, alerts: list[RenderedAlert]) -> list[Notification]:
        return pack_greedy(
            self.name,
            alerts,
            lambda alert: build_embed(alert).char_count,
            MESSAGE_EMBED_CHARS_MAX,
            max_alerts=EMBEDS_PER_MESSAGE_MAX,
        )

    async def send(self, notification: Notification) -> None:
        if not notification.alerts:
            return
        message = WebhookMessage(
            username=self._username, embeds=tuple(build_embed(a) for a in notification.alerts)
        )
        reply = await self._http.post(
            self._url, msgspec.json.encode(message), {"Content-Type": "application/json"}
        )
        self._note_rate_limit(reply)
        if reply.status in (200, 204):
            body = reply.json()
            if isinstance(body, dict) and isinstance(body.get("id"), str):
                self.last_message_id = body["id"]
            return
        raise self._classify(reply)

    def _note_rate_limit(self, reply: HttpReply) -> None:
        remaining = reply.header_float("X-RateLimit-Remaining")
        reset_after_s = reply.header_float("X-RateLimit-Reset-After")
        if remaining is not None and remaining <= 0 and reset_after_s is not None:
            self._blocked_until_monotonic_s = time.monotonic() + reset_after_s

    def _classify(self, reply: HttpReply) -> RetryableError | PermanentError:
        try:
            error = msgspec.json.decode(reply.body, type=_ErrorBody)
        except msgspec.DecodeError:
            error = _ErrorBody()
        status = reply.status
        header_retry_s = parse_retry_after_s(reply.headers.get("Retry-After"), self._clock.now_ns())
        if status == 429:
            retry_after_s = error.retry_after if error.retry_after is not None else header_retry_s
            if retry_after_s is not None:
                self._blocked_until_monotonic_s = time.monotonic() + retry_after_s
            scope = reply.headers.get("X-RateLimit-Scope", "global" if error.is_global else "webhook")
            return RetryableError(f"discord: rate limited (429, scope {scope})", retry_after_s)
        if status >= 500:
            return RetryableError(f"discord: server error {status}", header_retry_s)
        detail = f"{status}, code {error.code}: {error.message}" if error.code else str(status)
        if status == 404:
            return PermanentError(f"discord: webhook deleted ({detail}); do not use it again")
        if status in (401, 403):
            return PermanentError(f"discord: webhook token rejected ({detail})")
        if status == 400:
            return PermanentError(f"discord: payload rejected ({detail})")
        return PermanentError(f"discord: unexpected status ({detail})")

    async def close(self) -> None:
        await self._http.close()
