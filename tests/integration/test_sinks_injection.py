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

from cryptoradar.alerts.operator import IncidentKind, NoticeState, OperatorNotice, operator_signal
from cryptoradar.alerts.render import Renderer
from cryptoradar.alerts.wallet import wallet_signal
from cryptoradar.config.alerts import ChannelType
from cryptoradar.events import Direction, Severity, Signal, WalletTrade
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
    assert message.visible_text.count(HOSTILE_LABEL) == 2  # title and body; fields are not repeated


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
    assert parser.tags == {"html", "body", "div", "h3", "p"}  # the template's own
    assert "".join(parser.text).count(HOSTILE_LABEL) == 2  # title and body; fields are not repeated
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


# --- Wire data through the real renderer, then the real sinks ---------------------------------------------
# A newline in a symbol, a token name or a wallet label must not add lines or `label: value` fields to an
# alert (radar, wallet, operator), nor a header to an e-mail; a Discord label must not become a masked link.

NEWLINES = "\nAmount: 1000000\r\nTx: 0xfake\u2028State: resolved\x1e"
MASKED_LINK = "[click me](https://evil.example/x) **bold** `code`"


def _wallet_signal(label: str, token: str) -> Signal:
    trade = WalletTrade(
        chain="polygon", wallet="0x" + "ab" * 20, wallet_label=label, direction="buy",
        kind="polymarket_fill", token=token, amount=12.5, counterparty="0x" + "cd" * 20,
        tx_hash="0x" + "ef" * 32, log_index=3, block_number=100,
        explorer_url="https://polygonscan.com/tx/0x" + "ef" * 32, removed=False,
        ts_event_ns=1_700_000_000_000_000_000, ts_recv_ns=1_700_000_000_000_000_000,
    )  # fmt: skip
    return wallet_signal(trade)


def _radar_signal(symbol: str, group: str) -> Signal:
    return Signal(
        detector="radar", rule_version=1, kind="whale_trade", symbol=symbol, timeframe="",
        window_start_ms=1_700_000_000_000, window_end_ms=1_700_000_000_000, direction=Direction.BULLISH,
        severity=Severity.HIGH, conditions=(), metrics={"notional_usd": 2_500_000.0, "price": 97_000.0},
        labels={"taker_side": "buy", "group": group}, symbols=(symbol,), ts_event_ns=1_700_000_000_000_000_000,
    )  # fmt: skip


def _operator_signal(subject: str) -> Signal:
    notice = OperatorNotice(
        IncidentKind.FEED_OPERATOR,
        subject,
        NoticeState.OPEN,
        f"{subject} down",
        f"{subject} detail",
        0,
        10**18,
    )
    return operator_signal(notice)


SIGNALS = {
    "wallet": (_wallet_signal("alice", "USDC"), _wallet_signal(f"alice{NEWLINES}", f"USDC{NEWLINES}")),
    "radar": (_radar_signal("BTCUSDT", "g1"), _radar_signal(f"BTCUSDT{NEWLINES}", f"g1{NEWLINES}")),
    "operator": (_operator_signal("evm/polygon"), _operator_signal(f"evm/polygon{NEWLINES}")),
}


@pytest.mark.parametrize("channel_type", list(ChannelType))
@pytest.mark.parametrize("which", list(SIGNALS))
def test_a_newline_in_wire_data_adds_no_line_and_no_field(which: str, channel_type: ChannelType) -> None:
    benign, hostile = SIGNALS[which]
    renderer = Renderer()
    plain = renderer.render(benign, 1, channel_type)
    bad = renderer.render(hostile, 1, channel_type)
    assert "\n" not in bad.title
    assert [name for name, _ in bad.fields] == [name for name, _ in plain.fields]
    assert all("\n" not in value and "\r" not in value for _, value in bad.fields)
    assert len(bad.body.splitlines()) == len(plain.body.splitlines())
    assert len(bad.body_html.splitlines()) == len(plain.body_html.splitlines())
    assert "1000000" in bad.title or which == "operator"  # the text is kept, on the one line
    assert "\x1e" not in bad.body + bad.title


async def test_a_hostile_wallet_label_reaches_telegram_and_email_on_its_own_lines(
    smtp_inbox: tuple[Inbox, int],
) -> None:
    plain, hostile = SIGNALS["wallet"]
    renderer = Renderer()
    async with FakeTelegram() as fake:
        fake.add_bot("1:token")
        for chat, (alert_id, signal) in {"42": (1, plain), "43": (2, hostile)}.items():
            fake.add_chat(chat)  # one chat each: the fake enforces Telegram's one message per second per chat
            sink = TelegramSink(SecretStr("1:token"), chat, fake.api_base_url)
            try:
                await sink.send(_one("telegram", renderer.render(signal, alert_id, ChannelType.TELEGRAM)))
            finally:
                await sink.close()
    benign_msg, hostile_msg = fake.messages
    assert len(hostile_msg.visible_text.splitlines()) == len(benign_msg.visible_text.splitlines())
    assert set(hostile_msg.tags) <= {"b"}

    inbox, port = smtp_inbox
    email = EmailSink(
        "127.0.0.1", port, "radar@example.test", ["ops@example.test"], security=SmtpSecurity.NONE
    )
    title = f"alice\r\nBcc: victim@example.test{NEWLINES}"
    await email.send(_one("email", renderer.render(_wallet_signal(title, "USDC"), 3, ChannelType.EMAIL)))
    [message] = inbox.messages
    assert message["Bcc"] is None
    assert "\n" not in message["Subject"]
    assert "victim@example.test" in message["Subject"]
    assert [r for m in inbox.messages for r in m.get_all("To", [])] == ["ops@example.test"]


async def test_discord_gets_a_hostile_label_escaped_not_as_a_masked_link() -> None:
    signal = _wallet_signal(MASKED_LINK, f"USDC {MASKED_LINK}")
    async with FakeDiscord() as fake:
        sink = DiscordSink(SecretStr(fake.add_webhook()))
        try:
            await sink.send(_one("discord", Renderer().render(signal, 1, ChannelType.DISCORD)))
        finally:
            await sink.close()
    [message] = fake.messages
    [embed] = message.payload["embeds"]
    texts = [
        embed["title"],
        embed["description"],
        *(f["value"] for f in embed.get("fields", [])),
    ]  # the body has them all
    for text in texts:
        assert "[click me](" not in text
        assert "**bold**" not in text
    assert r"\[click me\]\(https://evil.example/x\) \*\*bold\*\* \`code\`" in embed["description"]
    # The explorer link, built from config and the chain's hash, stays a working link.
    assert "https://polygonscan.com/tx/0x" + "ef" * 32 in embed["description"]
