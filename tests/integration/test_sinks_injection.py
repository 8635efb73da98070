"""A hostile symbol/label (HTML tags, @everyone, every MarkdownV2 special, a bare &) through every remote
channel, checked by the receiving server: it must arrive as literal text and inject nothing."""

from __future__ import annotations

import html
import json
from collections.abc import Iterator
from html.parser import HTMLParser

import pytest
from aiohttp import web
from pydantic import SecretStr

from cryptoradar.notifications import Notification, RenderedAlert
from cryptoradar.sinks.discord import DiscordSink
from cryptoradar.sinks.smtp import EmailSink, SmtpSecurity
from cryptoradar.sinks.telegram import TelegramSink
from cryptoradar.sinks.webhook import WebhookSink
from fakes._server import LoopbackServer
from fakes.alerts import HOSTILE_LABEL, sample_alert
from fakes.discord import FakeDiscord
from fakes.smtp import Inbox, plain_smtp
from fakes.telegram import FakeTelegram

# The pipeline escapes the body for HTML channels; title and fields are raw and the sinks escape them.
HOSTILE = sample_alert(
    7,
    title=f"{HOSTILE_LABEL} long",
    body=html.escape(HOSTILE_LABEL),
    fields=((HOSTILE_LABEL, HOSTILE_LABEL),),
)
PLAIN_HOSTILE = sample_alert(
    7, title=f"{HOSTILE_LABEL} long", body=HOSTILE_LABEL, fields=((HOSTILE_LABEL, HOSTILE_LABEL),)
)


def _one(channel: str, alert: RenderedAlert = HOSTILE) -> Notification:
    return Notification(channel=channel, alerts=(alert,))


async def test_telegram_receives_valid_html_with_no_injected_tags() -> None:
    async with FakeTelegram() as fake:
        fake.add_bot("1:token")
        fake.add_chat("42")
        sink = TelegramSink(SecretStr("1:token"), "42", fake.api_base_url)
        try:
            await sink.send(_one("telegram"))
        finally:
            await sink.close()
    [message] = fake.messages
    assert message.parse_mode == "HTML"
    assert set(message.tags) == {"b"}  # only the sink's own labels
    assert message.visible_text.count(HOSTILE_LABEL) == 4  # title, body, field name, field value


async def test_discord_does_not_ping_and_keeps_the_text() -> None:
    async with FakeDiscord() as fake:
        sink = DiscordSink(SecretStr(fake.add_webhook()))
        try:
            await sink.send(_one("discord", PLAIN_HOSTILE))
        finally:
            await sink.close()
    [message] = fake.messages
    assert message.payload["allowed_mentions"] == {"parse": []}
    assert "content" not in message.payload
    assert not message.would_ping
    [embed] = message.payload["embeds"]
    assert embed["title"] == f"{HOSTILE_LABEL} long"
    assert embed["fields"][0]["name"] == HOSTILE_LABEL.strip()


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@pytest.fixture
def smtp_inbox() -> Iterator[tuple[Inbox, int]]:
    with plain_smtp() as server:
        yield server


async def test_email_html_part_escapes_every_untrusted_string(smtp_inbox: tuple[Inbox, int]) -> None:
    inbox, port = smtp_inbox
    sink = EmailSink(
        "127.0.0.1", port, "radar@example.test", ["ops@example.test"], security=SmtpSecurity.NONE
    )
    await sink.send(_one("email", PLAIN_HOSTILE))
    [message] = inbox.messages
    _, html_part = message.iter_parts()
    parser = _Tags()
    parser.feed(html_part.get_content())
    assert parser.tags == {"html", "body", "div", "h3", "table", "tr", "th", "td", "p"}  # the template's own
    assert "".join(parser.text).count(HOSTILE_LABEL) == 4
    assert message["Subject"].endswith(f"{' '.join(HOSTILE_LABEL.split())} long")


async def test_webhook_json_strings_are_intact() -> None:
    received: list[bytes] = []

    async def handle(request: web.Request) -> web.Response:
        received.append(await request.read())
        return web.Response()

    app = web.Application()
    app.router.add_post("/", handle)
    async with LoopbackServer(app) as server:
        sink = WebhookSink(SecretStr(server.base_url + "/"), SecretStr("s"))
        try:
            await sink.send(_one("webhook", PLAIN_HOSTILE))
        finally:
            await sink.close()
    [alert] = json.loads(received[0])["alerts"]
    assert alert["title"] == f"{HOSTILE_LABEL} long"
    assert alert["body"] == HOSTILE_LABEL
    assert alert["fields"] == [{"name": HOSTILE_LABEL, "value": HOSTILE_LABEL}]
