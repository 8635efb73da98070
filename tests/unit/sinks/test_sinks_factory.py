from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import TypeAdapter

from cryptoradar.config.alerts import ChannelConfig
from cryptoradar.notifications import Sink
from cryptoradar.sinks import (
    AppriseSink,
    ConsoleSink,
    DiscordSink,
    EmailSink,
    JsonLinesSink,
    StructlogSink,
    TelegramSink,
    WebhookSink,
    build_sink,
)

CHANNELS: list[tuple[dict[str, object], type[Sink]]] = [
    ({"type": "console"}, ConsoleSink),
    ({"type": "log"}, StructlogSink),
    ({"type": "log", "path": "/tmp/alerts.jsonl"}, JsonLinesSink),
    ({"type": "discord", "webhook_url": "https://discord.test/api/webhooks/1/t"}, DiscordSink),
    ({"type": "telegram", "bot_token": "1:t", "chat_id": "42"}, TelegramSink),
    ({"type": "email", "host": "smtp.test", "sender": "a@b.test", "recipients": ["c@d.test"]}, EmailSink),
    ({"type": "webhook", "url": "https://hook.test/x", "secret": "s"}, WebhookSink),
    ({"type": "apprise", "urls": ["json://127.0.0.1:9/x"]}, AppriseSink),
]


@pytest.mark.parametrize(
    ("raw", "expected"), CHANNELS, ids=[f"{c[0]['type']}-{c[1].__name__}" for c in CHANNELS]
)
async def test_build_sink_dispatches_on_type(raw: dict[str, object], expected: type[Sink]) -> None:
    config = TypeAdapter(ChannelConfig).validate_python(raw)
    sink = build_sink("mine", config)
    assert type(sink) is expected
    assert sink.name == "mine"
    await sink.close()


async def test_json_lines_sink_gets_the_configured_path() -> None:
    config = TypeAdapter(ChannelConfig).validate_python({"type": "log", "path": "/tmp/x/alerts.jsonl"})
    sink = build_sink("audit", config)
    assert isinstance(sink, JsonLinesSink)
    assert sink.path == Path("/tmp/x/alerts.jsonl")
