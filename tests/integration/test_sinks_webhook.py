"""WebhookSink against a local aiohttp receiver that verifies Standard Webhooks signatures itself."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from pydantic import SecretStr

from cryptoradar.core.clock import ManualClock
from cryptoradar.core.errors import PermanentError, RetryableError
from cryptoradar.notifications import Notification
from cryptoradar.sinks.webhook import WebhookSink
from fakes._server import LoopbackServer
from fakes.alerts import HOSTILE_LABEL, sample_alert
from fakes.leaks import leaks

SECRET = "CANARY-hmac-shared-5ecret"
TOLERANCE_S = 300
NOW_NS = 1_767_225_700_000_000_000


@dataclass
class Receiver:
    """Verifies like a careful receiver: HMAC over the raw body, constant-time compare, timestamp window."""

    secret: bytes
    now_s: float
    reply_status: int = 200
    reply_headers: dict[str, str] = field(default_factory=dict)
    accepted: list[dict[str, object]] = field(default_factory=list)
    raw: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    rejected: int = 0

    def verify(self, headers: dict[str, str], body: bytes) -> bool:
        msg_id, timestamp = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
        if not timestamp.isdigit() or abs(self.now_s - int(timestamp)) > TOLERANCE_S:
            return False
        expected = hmac.new(self.secret, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
        offered = [s.removeprefix("v1,") for s in headers.get("webhook-signature", "").split()]
        return any(hmac.compare_digest(base64.b64encode(expected).decode(), s) for s in offered)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.raw.append((headers, body))
        if not self.verify(headers, body):
            self.rejected += 1
            return web.Response(status=401, text="bad signature")
        if self.reply_status == 200:
            self.accepted.append(json.loads(body))
        return web.Response(status=self.reply_status, headers=self.reply_headers)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    target = Receiver(SECRET.encode(), NOW_NS / 1e9)
    app = web.Application()
    app.router.add_post("/hook", target.handle)
    async with LoopbackServer(app) as server:
        yield target, f"{server.base_url}/hook"


def _sink(url: str, secret: str = SECRET, now_ns: int = NOW_NS) -> WebhookSink:
    return WebhookSink(SecretStr(url), SecretStr(secret), clock=ManualClock(now_ns))


async def _send_once(sink: WebhookSink, notification: Notification) -> None:
    try:
        await sink.send(notification)
    finally:
        await sink.close()


DIGEST = Notification(
    channel="webhook",
    alerts=(
        sample_alert(
            1,
            title=HOSTILE_LABEL,
            fields=((HOSTILE_LABEL, '"quoted" \\ \u2028'),),
        ),
        sample_alert(2),
    ),
)


async def test_signed_envelope_is_verified_and_strings_arrive_intact(receiver: tuple[Receiver, str]) -> None:
    target, url = receiver
    await _send_once(_sink(url), DIGEST)
    [envelope] = target.accepted
    assert envelope["version"] == "1"
    assert envelope["event_id"] == target.raw[0][0]["webhook-id"]
    alerts = envelope["alerts"]
    assert isinstance(alerts, list)
    assert [a["alert_id"] for a in alerts] == [1, 2]
    assert alerts[0]["title"] == HOSTILE_LABEL
    assert alerts[0]["fields"] == [{"name": HOSTILE_LABEL, "value": '"quoted" \\ \u2028'}]
    assert alerts[0]["severity"] == "high"
    assert target.raw[0][0]["content-type"].startswith("application/json")


async def test_tampering_wrong_secret_and_replay_are_rejected(receiver: tuple[Receiver, str]) -> None:
    target, url = receiver
    await _send_once(_sink(url), DIGEST)
    headers, body = target.raw[0]
    assert target.verify(headers, body)
    assert not target.verify(headers, body.replace(b'"alert_id":2', b'"alert_id":3'))
    assert not target.verify({**headers, "webhook-id": "other"}, body)
    assert not target.verify(
        {**headers, "webhook-timestamp": str(int(headers["webhook-timestamp"]) + 1)}, body
    )
    for wrong in (_sink(url, secret="not-the-secret"), _sink(url, now_ns=NOW_NS - (TOLERANCE_S + 1) * 10**9)):
        with pytest.raises(PermanentError, match="401"):
            await _send_once(wrong, DIGEST)
    assert target.rejected == 2
    assert len(target.accepted) == 1


async def test_whsec_secret_is_used_as_its_decoded_bytes(receiver: tuple[Receiver, str]) -> None:
    target, url = receiver
    key = b"\x00\x01raw-key-bytes\xff"
    target.secret = key
    await _send_once(_sink(url, secret="whsec_" + base64.b64encode(key).decode()), DIGEST)
    assert len(target.accepted) == 1


async def test_retries_carry_the_same_event_id(receiver: tuple[Receiver, str]) -> None:
    target, url = receiver
    target.reply_status = 503
    sink = _sink(url)
    try:
        for _ in range(2):
            with pytest.raises(RetryableError):
                await sink.send(DIGEST)
    finally:
        await sink.close()
    assert target.raw[0][0]["webhook-id"] == target.raw[1][0]["webhook-id"]


@pytest.mark.parametrize(
    ("status", "headers", "expected", "retry_after_s"),
    [
        (429, {"Retry-After": "7"}, RetryableError, 7.0),
        (503, {"Retry-After": "Thu, 01 Jan 2026 00:01:50 GMT"}, RetryableError, 10.0),
        (500, {}, RetryableError, None),
        (408, {}, RetryableError, None),
        (410, {}, PermanentError, None),
        (404, {}, PermanentError, None),
        (400, {}, PermanentError, None),
    ],
)
async def test_status_classification(
    receiver: tuple[Receiver, str],
    status: int,
    headers: dict[str, str],
    expected: type[Exception],
    retry_after_s: float | None,
) -> None:
    target, url = receiver
    target.reply_status, target.reply_headers = status, headers
    with pytest.raises(expected) as caught:
        await _send_once(_sink(url), DIGEST)
    if isinstance(caught.value, RetryableError):
        assert caught.value.retry_after_s == retry_after_s
    assert leaks(SECRET, errors=[caught.value]) == []
