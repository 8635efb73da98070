"""DiscordSink against FakeDiscord over real loopback HTTP."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import datetime

import pytest
import structlog
from pydantic import SecretStr

from cryptoradar.core.errors import PermanentError, RetryableError
from cryptoradar.notifications import Notification
from cryptoradar.sinks.discord import DiscordSink
from fakes.alerts import sample_alert
from fakes.discord import FakeDiscord
from fakes.leaks import leaks

CANARY = "CANARY-d1sc0rd-t0ken-5ecret"


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(bucket_limit=5, bucket_window_s=0.5) as server:
        yield server


@pytest.fixture
async def sink(fake: FakeDiscord) -> AsyncIterator[DiscordSink]:
    discord = DiscordSink(SecretStr(fake.add_webhook(token=CANARY)), username="radar")
    yield discord
    await discord.close()


def _one(alert_id: int = 1) -> Notification:
    return Notification(channel="discord", alerts=(sample_alert(alert_id),))


async def test_delivers_embeds_with_wait_and_mentions_disabled(fake: FakeDiscord, sink: DiscordSink) -> None:
    [notification] = sink.pack([sample_alert(1), sample_alert(2)])
    await sink.send(notification)
    [message] = fake.messages
    assert message.wait
    assert message.payload["allowed_mentions"] == {"parse": []}
    assert message.payload["username"] == "radar"
    first, second = message.payload["embeds"]
    assert first["footer"]["text"] == "alert #1"
    assert second["footer"]["text"] == "alert #2"
    assert first["fields"][0] == {"name": "Entry", "value": "97000.5", "inline": True}
    assert datetime.fromisoformat(first["timestamp"]).timestamp() == sample_alert(1).ts_event_ns / 1e9
    assert first["color"] == sample_alert(1).color
    assert sink.last_message_id is not None


async def test_honouring_next_allowed_in_s_delivers_40_alerts_without_a_429(
    fake: FakeDiscord, sink: DiscordSink
) -> None:
    alerts = [sample_alert(i, body="lorem ipsum " * 150) for i in range(1, 41)]
    packs = sink.pack(alerts)
    assert len(packs) > fake.bucket_limit  # the bucket must run dry at least once
    for notification in packs:
        # Waiting out the server's own reset hint is the behaviour under test, not synchronisation.
        await asyncio.sleep(sink.next_allowed_in_s)
        await sink.send(notification)
    assert fake.rate_limit_violations == 0
    delivered = [e["footer"]["text"] for m in fake.messages for e in m.payload["embeds"]]
    assert delivered == [f"alert #{i}" for i in range(1, 41)]


async def test_ignoring_the_bucket_yields_retryable_with_the_servers_retry_after(
    fake: FakeDiscord, sink: DiscordSink
) -> None:
    for i in range(fake.bucket_limit):
        await sink.send(_one(i))
    assert sink.next_allowed_in_s > 0
    with pytest.raises(RetryableError) as caught:
        await sink.send(_one(99))
    assert fake.rate_limit_violations == 1
    assert caught.value.retry_after_s == fake.last_retry_after_s


async def test_429_prefers_the_precise_json_retry_after(fake: FakeDiscord, sink: DiscordSink) -> None:
    fake.inject_rate_limit(1.234)
    with pytest.raises(RetryableError) as caught:
        await sink.send(_one())
    assert caught.value.retry_after_s == 1.234
    assert 1.0 < sink.next_allowed_in_s <= 1.234


async def test_5xx_burst_is_retryable_then_delivery_resumes(fake: FakeDiscord, sink: DiscordSink) -> None:
    fake.inject_server_errors(2, status=503)
    for _ in range(2):
        with pytest.raises(RetryableError):
            await sink.send(_one())
    await sink.send(_one())
    assert len(fake.messages) == 1


@pytest.mark.parametrize("breakage", ["deleted", "revoked", "forbidden", "bad_payload"])
async def test_permanent_errors_are_classified(fake: FakeDiscord, sink: DiscordSink, breakage: str) -> None:
    url = fake.add_webhook(token=CANARY)
    target = DiscordSink(SecretStr(url))
    if breakage == "deleted":
        fake.delete_webhook(url)
    elif breakage == "revoked":
        fake.revoke_token(url)
    elif breakage == "forbidden":
        fake.forbid()
    else:
        fake.inject_error(400, 50035, "Invalid Form Body")
    try:
        with pytest.raises(PermanentError):
            await target.send(_one())
    finally:
        await target.close()
    assert fake.messages == []


async def test_no_secret_in_errors_or_logs(
    fake: FakeDiscord, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    url = fake.add_webhook(token=CANARY)
    port_closed_url = f"http://127.0.0.1:9/api/webhooks/1/{CANARY}"
    errors: list[BaseException] = []
    with structlog.testing.capture_logs() as events:
        for setup in ("rate", "5xx", "deleted", "refused"):
            target = DiscordSink(SecretStr(port_closed_url if setup == "refused" else url))
            if setup == "deleted":
                fake.delete_webhook(url)
            elif setup == "rate":
                fake.inject_rate_limit(0.5)
            elif setup == "5xx":
                fake.inject_server_errors(1)
            try:
                await target.send(_one())
            except (RetryableError, PermanentError) as e:
                errors.append(e)
            finally:
                await target.close()
    assert [type(e) for e in errors] == [RetryableError, RetryableError, PermanentError, RetryableError]
    captured = capsys.readouterr()
    texts = [caplog.text, captured.out, captured.err, *map(repr, events)]
    assert leaks(CANARY, errors=[ValueError(url)]), "the scanner must see a leak"
    assert leaks(CANARY, errors=errors, texts=texts) == []
