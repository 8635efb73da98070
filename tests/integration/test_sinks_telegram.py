"""TelegramSink against FakeTelegram over real loopback HTTP."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
import structlog
from pydantic import SecretStr

from cryptoradar.core.errors import PermanentError, RetryableError
from cryptoradar.notifications import Notification
from cryptoradar.sinks.telegram import TelegramSink
from fakes.alerts import sample_alert
from fakes.leaks import leaks
from fakes.telegram import FakeTelegram

TOKEN = "123456:CANARY-te1egram-t0ken-5ecret"
CHAT = "4242"


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        server.add_bot(TOKEN)
        server.add_chat(CHAT)
        yield server


@pytest.fixture
async def sink(fake: FakeTelegram) -> AsyncIterator[TelegramSink]:
    telegram = TelegramSink(SecretStr(TOKEN), CHAT, fake.api_base_url)
    yield telegram
    await telegram.close()


def _one(alert_id: int = 1) -> Notification:
    return Notification(channel="telegram", alerts=(sample_alert(alert_id),))


async def test_digest_is_sent_as_html(fake: FakeTelegram, sink: TelegramSink) -> None:
    [notification] = sink.pack([sample_alert(1, title="BTC"), sample_alert(2, title="ETH")])
    await sink.send(notification)
    [message] = fake.messages
    assert message.chat_id == CHAT
    assert message.parse_mode == "HTML"
    assert message.visible_text.startswith("BTC\n")
    assert "\n\nETH\n" in message.visible_text
    assert message.visible_text.count("Close above the 20-bar high") == 2  # each body once, no field list


async def test_40_alerts_arrive_in_order_in_the_packed_number_of_messages() -> None:
    async with FakeTelegram(per_chat_limit=100) as fake:
        fake.add_bot(TOKEN)
        fake.add_chat(CHAT)
        sink = TelegramSink(SecretStr(TOKEN), CHAT, fake.api_base_url)
        alerts = [sample_alert(i, title=f"A{i:02d}", body="x &lt; y " * 60) for i in range(1, 41)]
        packs = sink.pack(alerts)
        try:
            for notification in packs:
                await sink.send(notification)
        finally:
            await sink.close()
    assert len(fake.messages) == len(packs) > 1
    titles = [line for m in fake.messages for line in m.visible_text.split("\n") if line.startswith("A")]
    assert titles == [f"A{i:02d}" for i in range(1, 41)]


async def test_second_message_within_a_second_is_rate_limited(fake: FakeTelegram, sink: TelegramSink) -> None:
    await sink.send(_one(1))
    with pytest.raises(RetryableError) as caught:
        await sink.send(_one(2))
    assert caught.value.retry_after_s == 1
    assert fake.rate_limit_violations == 1


async def test_429_retry_after_is_taken_from_parameters(fake: FakeTelegram, sink: TelegramSink) -> None:
    fake.inject_rate_limit(7)
    with pytest.raises(RetryableError) as caught:
        await sink.send(_one())
    assert caught.value.retry_after_s == 7


async def test_5xx_is_retryable(fake: FakeTelegram, sink: TelegramSink) -> None:
    fake.inject_server_errors(1, status=502)
    with pytest.raises(RetryableError):
        await sink.send(_one())


@pytest.mark.parametrize("breakage", ["blocked", "chat_not_found", "bad_token"])
async def test_permanent_errors_are_classified(fake: FakeTelegram, sink: TelegramSink, breakage: str) -> None:
    if breakage == "blocked":
        fake.block_bot(CHAT)
    elif breakage == "chat_not_found":
        fake.remove_chat(CHAT)
    else:
        fake.revoke_bot(TOKEN)
    with pytest.raises(PermanentError):
        await sink.send(_one())
    assert fake.messages == []


async def test_migrated_group_is_permanent_unless_following_is_configured(fake: FakeTelegram) -> None:
    fake.add_chat("-100")
    fake.migrate_chat("-100", -1001234567890)
    plain = TelegramSink(SecretStr(TOKEN), "-100", fake.api_base_url)
    following = TelegramSink(SecretStr(TOKEN), "-100", fake.api_base_url, follow_migration=True)
    try:
        with pytest.raises(PermanentError, match="-1001234567890"):
            await plain.send(_one())
        await following.send(_one())
    finally:
        await plain.close()
        await following.close()
    assert following.chat_id == "-1001234567890"
    assert [m.chat_id for m in fake.messages] == ["-1001234567890"]


async def test_unparseable_body_falls_back_to_plain_text_once(fake: FakeTelegram, sink: TelegramSink) -> None:
    broken = sample_alert(body="<blink>bad template</blink>")
    await sink.send(Notification(channel="telegram", alerts=(broken,)))
    [message] = fake.messages
    assert message.parse_mode is None
    assert "bad template" in message.text
    assert "<blink>" not in message.text


async def test_no_secret_in_errors_or_logs(
    fake: FakeTelegram, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[BaseException] = []
    with structlog.testing.capture_logs() as events:
        for setup in ("rate", "5xx", "blocked", "refused", "bad_token"):
            base_url = "http://127.0.0.1:9" if setup == "refused" else fake.api_base_url
            target = TelegramSink(SecretStr(TOKEN), CHAT, base_url)
            if setup == "rate":
                fake.inject_rate_limit(3)
            elif setup == "5xx":
                fake.inject_server_errors(1)
            elif setup == "blocked":
                fake.block_bot(CHAT)
            elif setup == "bad_token":
                fake.revoke_bot(TOKEN)
            try:
                await target.send(_one())
            except (RetryableError, PermanentError) as e:
                errors.append(e)
            finally:
                await target.close()
    assert [type(e) for e in errors] == [
        RetryableError,
        RetryableError,
        PermanentError,
        RetryableError,
        PermanentError,
    ]
    captured = capsys.readouterr()
    texts = [caplog.text, captured.out, captured.err, *map(repr, events)]
    assert leaks(TOKEN, errors=errors, texts=texts) == []
