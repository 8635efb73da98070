"""Golden alerts: every signal kind, rendered for every channel and sent through that channel's real sink to
its local fake server, must arrive exactly as the text stored under tests/golden/alerts/.

The signals are real detector output (the detectors driven with events, as in test_alert_kinds), enriched
by the real `MarketContextEnricher` (a book ticker gives the spread; no hit-rate statistics are loaded, so
that line must be left out). What is compared is what the receiving end got: the console's printed text,
the Telegram message's HTML, the Discord embed, the e-mail's subject and both parts, the webhook's alert.

After an intended change to a format, regenerate with
`CRYPTORADAR_UPDATE_GOLDEN=1 .venv/bin/pytest tests/integration/test_alert_golden.py` and review the diff.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from process_harness import webhook_stub
from pydantic import SecretStr
from rich.console import Console
from test_alert_kinds import confluence_signals, momentum_signals, radar_signals

from cryptoradar.alerts.enrich import MarketContextEnricher
from cryptoradar.alerts.render import Renderer
from cryptoradar.config.alerts import ChannelType
from cryptoradar.events import BookTicker, Market, Signal
from cryptoradar.notifications import Notification, RenderedAlert
from cryptoradar.sinks.console import ConsoleSink
from cryptoradar.sinks.discord import DiscordSink
from cryptoradar.sinks.smtp import EmailSink, SmtpSecurity
from cryptoradar.sinks.telegram import TelegramSink
from cryptoradar.sinks.webhook import WebhookSink
from fakes.discord import FakeDiscord
from fakes.smtp import plain_smtp
from fakes.telegram import FakeTelegram

GOLDEN_DIR = Path(__file__).parents[1] / "golden" / "alerts"
UPDATE = os.environ.get("CRYPTORADAR_UPDATE_GOLDEN") == "1"
CHAT = "4242"
TOKEN = "1:golden"
HTML_PART = "\n--- text/html ---\n"
"""Between an e-mail's text and HTML parts in its golden file (each part is read on its own)."""


def _by_kind() -> dict[str, Signal]:
    """The last signal of each kind (for the radar composite: the escalation to a convergence)."""
    signals = [
        *momentum_signals(("AAAUSDT",)),
        *momentum_signals(("AAAUSDT", "BBBUSDT", "CCCUSDT")),
        *confluence_signals(),
        *radar_signals(),
    ]
    return {s.kind: s for s in signals}


SIGNALS = _by_kind()
KINDS = sorted(SIGNALS)
CHANNELS = ("console", "telegram", "discord", "email", "webhook")


def _rendered(kind: str, channel: ChannelType) -> RenderedAlert:
    signal = SIGNALS[kind]
    enricher = MarketContextEnricher()
    # A tight book on the alerted symbol at alert time: the spread line carries a value.
    enricher.observe(
        BookTicker(
            Market.USDM, signal.symbol, 1, 99.99, 5.0, 100.01, 5.0, signal.ts_event_ns, signal.ts_event_ns
        )
    )
    alert_id = KINDS.index(kind) + 1
    return Renderer().render(signal, alert_id, channel, enricher.context_lines(signal))


async def _console(alert: RenderedAlert) -> str:
    out = io.StringIO()
    sink = ConsoleSink(Console(file=out, width=120, color_system=None, highlight=False))
    await sink.send(Notification(channel="console", alerts=(alert,)))
    return out.getvalue()


async def _telegram(alert: RenderedAlert) -> str:
    async with FakeTelegram() as fake:
        fake.add_bot(TOKEN)
        fake.add_chat(CHAT)
        sink = TelegramSink(SecretStr(TOKEN), CHAT, fake.api_base_url)
        try:
            await sink.send(Notification(channel="telegram", alerts=(alert,)))
        finally:
            await sink.close()
    [message] = fake.messages
    assert message.parse_mode == "HTML"
    return message.text + "\n"


async def _discord(alert: RenderedAlert) -> str:
    async with FakeDiscord() as fake:
        sink = DiscordSink(SecretStr(fake.add_webhook()))
        try:
            await sink.send(Notification(channel="discord", alerts=(alert,)))
        finally:
            await sink.close()
    [message] = fake.messages
    [embed] = message.payload["embeds"]
    return json.dumps(embed, indent=2, ensure_ascii=False) + "\n"


async def _email(alert: RenderedAlert) -> str:
    with plain_smtp() as (inbox, port):
        sink = EmailSink(
            "127.0.0.1", port, "radar@example.test", ["desk@example.test"], security=SmtpSecurity.NONE
        )
        await sink.send(Notification(channel="email", alerts=(alert,)))
    [message] = inbox.messages
    text, html = message.iter_parts()
    body = text.get_content() + HTML_PART + html.get_content()
    return f"Subject: {message['Subject']}\n\n" + body.replace("\r\n", "\n")


async def _webhook(alert: RenderedAlert) -> str:
    bodies: list[Any] = []

    def record(body: Any) -> list[int]:
        bodies.append(body)
        return [a["alert_id"] for a in body["alerts"]]

    async with webhook_stub(record) as stub:
        sink = WebhookSink(SecretStr(stub.url), SecretStr("golden-secret"))
        try:
            await sink.send(Notification(channel="webhook", alerts=(alert,)))
        finally:
            await sink.close()
    [body] = bodies
    [received] = body["alerts"]
    return json.dumps(received, indent=2, ensure_ascii=False) + "\n"


RECEIVED: dict[str, Callable[[RenderedAlert], Awaitable[str]]] = {
    "console": _console,
    "telegram": _telegram,
    "discord": _discord,
    "email": _email,
    "webhook": _webhook,
}


def test_every_detector_kind_has_a_golden_signal() -> None:
    assert KINDS == [
        "confluence",
        "large_liquidation",
        "liquidation_storm",
        "momentum",
        "momentum_group",
        "radar",
        "whale_cluster",
        "whale_trade",
    ]


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("kind", KINDS)
async def test_alert_arrives_as_its_golden_text(kind: str, channel: str) -> None:
    alert = _rendered(kind, ChannelType(channel))
    received = await RECEIVED[channel](alert)
    golden = GOLDEN_DIR / f"{kind}.{channel}.txt"
    if UPDATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(received, encoding="utf-8")
    assert golden.is_file(), f"no golden file {golden}: run with CRYPTORADAR_UPDATE_GOLDEN=1 and review it"
    assert received == golden.read_text(encoding="utf-8")
    # An enrichment line without a value is left out; a channel people read shows each value once.
    assert "n/a" not in received
    if channel != "webhook":  # a webhook carries the body and the fields as data, for machines
        for part in received.split(HTML_PART):
            for name, value in alert.fields:
                assert part.count(value) == 1, f"{name} {value!r} shown {part.count(value)} times"
