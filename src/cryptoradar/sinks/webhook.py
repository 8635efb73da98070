"""Generic JSON webhook sink: a versioned envelope, signed with HMAC-SHA256.

Schema version "1" (`WebhookEnvelope`): `version`, `event_id`, `channel`, `sent_at`, `alerts[]` (each with
`alert_id`, `severity`, `title`, `body`, `fields[{name, value}]`, `color`, `event_time`, `ts_event_ns`).
Nothing is ever dropped from a batch (`pack` splits instead). Delivery is at least once: `event_id` is derived from the channel and alert ids, so a retried
delivery carries the same `event_id` and receivers must dedupe on it.

Signing (Standard Webhooks layout, standardwebhooks.com, as `config.alerts.WebhookChannel` names it):
headers `webhook-id` (= `event_id`), `webhook-timestamp` (unix seconds) and `webhook-signature: v1,<base64>`
where the base64 is HMAC-SHA256 over the bytes `"<id>.<timestamp>." + raw body`. A secret written as
`whsec_<base64>` is used as the decoded bytes (the spec's form), any other secret as its UTF-8 bytes.
Receivers recompute over the raw body, compare with `hmac.compare_digest` and reject timestamps outside
their tolerance (5 min suggested). Header names are configurable.

Errors: 2xx is success; 429/503 (with `Retry-After`), 408 and 5xx are retryable; 410 (endpoint gone) and
every other 3xx/4xx are permanent. Redirects are not followed (a POST must not be silently re-sent).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import UTC, datetime

import aiohttp
import msgspec
from pydantic import SecretStr

from cryptoradar.core.clock import Clock, SystemClock
from cryptoradar.core.errors import ConfigError, PermanentError, RetryableError
from cryptoradar.notifications import Notification, RenderedAlert
from cryptoradar.sinks._http import HttpPoster, parse_retry_after_s
from cryptoradar.sinks._limits import pack_greedy

SCHEMA_VERSION = "1"
SECRET_PREFIX = "whsec_"


class WebhookField(msgspec.Struct, frozen=True):
    name: str
    value: str


class WebhookAlert(msgspec.Struct, frozen=True):
    alert_id: int
    severity: str
    title: str
    body: str
    fields: tuple[WebhookField, ...]
    color: int
    event_time: str
    ts_event_ns: int


class WebhookEnvelope(msgspec.Struct, frozen=True):
    version: str
    event_id: str
    channel: str
    sent_at: str
    alerts: tuple[WebhookAlert, ...]


def _iso(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns / 1e9, tz=UTC).isoformat()


def signing_key(secret: str) -> bytes:
    """The HMAC key for a configured secret (`whsec_<base64>` decoded, else UTF-8 bytes)."""
    if secret.startswith(SECRET_PREFIX):
        try:
            return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
        except binascii.Error:
            raise ConfigError("webhook secret starts with 'whsec_' but the rest is not base64") from None
    return secret.encode()


def signature(key: bytes, event_id: str, timestamp_s: int, body: bytes) -> str:
    """The `webhook-signature` value: `v1,` + base64 HMAC-SHA256 over `"<id>.<timestamp>." + body`."""
    digest = hmac.new(key, f"{event_id}.{timestamp_s}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


class WebhookSink:
    """POSTs signed JSON envelopes to one URL."""

    def __init__(
        self,
        url: SecretStr,
        secret: SecretStr,
        session: aiohttp.ClientSession | None = None,
        *,
        name: str = "webhook",
        timeout_s: float = 10.0,
        max_alerts_per_request: int = 100,
        id_header: str = "webhook-id",
        timestamp_header: str = "webhook-timestamp",
        signature_header: str = "webhook-signature",
        clock: Clock | None = None,
    ) -> None:
        self.name = name
        self._url = url.get_secret_value()
        self._key = signing_key(secret.get_secret_value())
        self._id_header = id_header
        self._timestamp_header = timestamp_header
        self._signature_header = signature_header
        self._http = HttpPoster(name, session, timeout_s)
        self._max_alerts = max_alerts_per_request
        self._clock = clock or SystemClock()

    def pack(self, alerts: list[RenderedAlert]) -> list[Notification]:
        return pack_greedy(self.name, alerts, lambda _: 1, self._max_alerts)

    def event_id(self, notification: Notification) -> str:
        """Stable across retries of the same notification (receivers dedupe on it)."""
        ids = ",".join(str(a.alert_id) for a in notification.alerts)
        return hashlib.sha256(f"{self.name}:{ids}".encode()).hexdigest()[:32]

    def encode(self, notification: Notification, now_ns: int) -> bytes:
        """The request body for `notification` (schema version `SCHEMA_VERSION`)."""
        envelope = WebhookEnvelope(
            version=SCHEMA_VERSION,
            event_id=self.event_id(notification),
            channel=self.name,
            sent_at=_iso(now_ns),
            alerts=tuple(
                WebhookAlert(
                    alert_id=a.alert_id,
                    severity=a.severity.value,
                    title=a.title,
                    body=a.body,
                    fields=tuple(WebhookField(name, value) for name, value in a.fields),
                    color=a.color,
                    event_time=_iso(a.ts_event_ns),
                    ts_event_ns=a.ts_event_ns,
                )
                for a in notification.alerts
            ),
        )
        return msgspec.json.encode(envelope)

    async def send(self, notification: Notification) -> None:
        if not notification.alerts:
            return
        now_ns = self._clock.now_ns()
        body = self.encode(notification, now_ns)
        timestamp_s = now_ns // 1_000_000_000
        event_id = self.event_id(notification)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            self._id_header: event_id,
            self._timestamp_header: str(timestamp_s),
            self._signature_header: signature(self._key, event_id, timestamp_s, body),
        }
        reply = await self._http.post(self._url, body, headers)
        status = reply.status
        if 200 <= status < 300:
            return
        retry_after_s = parse_retry_after_s(reply.headers.get("Retry-After"), now_ns)
        if status in (408, 429) or status >= 500:
            raise RetryableError(f"{self.name}: receiver answered {status}", retry_after_s)
        if status == 410:
            raise PermanentError(f"{self.name}: endpoint gone (410); remove it from the config")
        raise PermanentError(f"{self.name}: receiver rejected the request ({status})")

    async def close(self) -> None:
        await self._http.close()
