"""The whole delivery path over loopback: `AlertService` (SQLite outbox, the fact sheet's default rate
limits) -> the real Discord and Telegram sinks -> FakeDiscord (5 per 2 s bucket) and FakeTelegram (1 per
second per chat), with operator notices going to a JSON-lines file and a real aiosmtpd server.

Shown here: a 40-symbol bar close arrives in the fewest messages each channel's limits allow, split on
alert boundaries; 5xx bursts and 429s (Discord's float `retry_after`, Telegram's
`parameters.retry_after`) are waited out and everything arrives exactly once with no rate-limit violation
counted by the servers; a permanent error disables only its channel and reaches the operator by email and
log file.
"""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import eventually
from cryptoradar.alerts.delivery import ChannelState
from cryptoradar.alerts.service import AlertService
from cryptoradar.config.alerts import AlertsConfig
from cryptoradar.storage.sqlite import SqliteStore
from fakes.alerts import running_service
from fakes.discord import EMBEDS_MAX, FakeDiscord
from fakes.signals import make_signal
from fakes.smtp import Inbox, plain_smtp
from fakes.telegram import TEXT_MAX_UTF16, FakeTelegram, utf16_len

BOT_TOKEN = "4242:fake-bot-token"
CHAT_ID = "42"
CHANNELS = ("discord", "telegram")
TELEGRAM_SEPARATOR_UNITS = 2  # the digest puts a blank line between alerts
TITLE = re.compile(r"🚀 MOMENTUM ALERT: (S\d+USDT) 1m")


@dataclass
class Rig:
    service: AlertService
    store: SqliteStore
    discord: FakeDiscord
    telegram: FakeTelegram
    webhook_url: str
    inbox: Inbox
    oplog: Path

    def discord_symbols(self) -> list[str]:
        return [
            symbol
            for message in self.discord.messages
            for embed in message.payload["embeds"]
            for symbol in TITLE.findall(embed["title"])
        ]

    def telegram_symbols(self) -> list[str]:
        return [s for m in self.telegram.messages for s in TITLE.findall(m.visible_text)]

    def symbols(self, channel: str) -> list[str]:
        return self.discord_symbols() if channel == "discord" else self.telegram_symbols()

    def requests(self, channel: str) -> int:
        return self.discord.requests if channel == "discord" else self.telegram.requests

    async def states(self, alert_id: int) -> dict[str, str]:
        return {d.channel: d.state for d in await self.store.deliveries(alert_id)}


@asynccontextmanager
async def rig(tmp_path: Path, **alerts: Any) -> AsyncIterator[Rig]:
    async with FakeDiscord() as discord, FakeTelegram() as telegram:
        telegram.add_bot(BOT_TOKEN)
        telegram.add_chat(CHAT_ID)
        webhook_url = discord.add_webhook()
        with plain_smtp() as (inbox, smtp_port):
            config = AlertsConfig.model_validate(
                {
                    "channels": {
                        "discord": {"type": "discord", "webhook_url": webhook_url},
                        "telegram": {
                            "type": "telegram",
                            "bot_token": BOT_TOKEN,
                            "chat_id": CHAT_ID,
                            "api_base_url": telegram.api_base_url,
                        },
                        "oplog": {"type": "log", "path": str(tmp_path / "operator.jsonl")},
                        "email": {
                            "type": "email",
                            "host": "127.0.0.1",
                            "port": smtp_port,
                            "security": "none",
                            "sender": "cryptoradar <radar@example.test>",
                            "recipients": ["ops@example.test"],
                        },
                    },
                    "default_channels": list(CHANNELS),
                    "fallback_channels": ["oplog", "email"],
                    **alerts,
                }
            )
            async with running_service(config, tmp_path / "alerts.db") as (service, store):
                yield Rig(service, store, discord, telegram, webhook_url, inbox, tmp_path / "operator.jsonl")


async def submit_bar_close(service: AlertService, count: int, *, first: int = 0) -> dict[str, int]:
    """`count` momentum alerts closing on the same bar, one symbol each: symbol -> alert id."""
    ids: dict[str, int] = {}
    for i in range(first, first + count):
        symbol = f"S{i:02d}USDT"
        signal = make_signal(
            symbol=symbol,
            metrics={"strength": 8, "move_pct": 2.5, "move_atr": 3.2, "volume_z": 4.1, "close": 101.25},
        )
        alert_id = await service.submit(signal)
        assert alert_id is not None
        ids[symbol] = alert_id
    return ids


def assert_each_once(delivered: list[str], expected: dict[str, int]) -> None:
    counts = Counter(delivered)
    assert sorted(counts) == sorted(expected)
    assert set(counts.values()) == {1}, counts


async def test_a_40_symbol_bar_close_is_the_fewest_messages_on_each_channel(tmp_path: Path) -> None:
    # group_wait_s comfortably longer than 40 durable submits, so the bar close is one group.
    async with rig(tmp_path, group_wait_s=3.0) as r:
        ids = await submit_bar_close(r.service, 40)
        await eventually(lambda: len(r.discord_symbols()) == 40, timeout_s=20, what="40 Discord embeds")
        await eventually(lambda: len(r.telegram_symbols()) == 40, timeout_s=20, what="40 Telegram alerts")

        assert r.discord_symbols() == list(ids)  # in order, none twice
        assert r.telegram_symbols() == list(ids)
        # Discord: 10 short embeds fit in 6000 characters, so 40 alerts are exactly 4 messages.
        assert [len(m.payload["embeds"]) for m in r.discord.messages] == [EMBEDS_MAX] * 4
        # Telegram: minimal for an in-order split iff no message could also have taken the next one's
        # first alert (the greedy certificate), with every message within 4096 UTF-16 units.
        texts = [m.visible_text for m in r.telegram.messages]
        assert len(texts) > 1
        for text, following in itertools.pairwise(texts):
            assert utf16_len(text) <= TEXT_MAX_UTF16
            starts = [m.start() for m in TITLE.finditer(following)]
            first_alert = following[: starts[1]].rstrip("\n") if len(starts) > 1 else following
            assert utf16_len(text) + TELEGRAM_SEPARATOR_UNITS + utf16_len(first_alert) > TEXT_MAX_UTF16
        assert r.discord.rate_limit_violations == 0
        assert r.telegram.rate_limit_violations == 0
        for alert_id in ids.values():
            await states_become(r, alert_id, {"discord": "sent", "telegram": "sent"})


async def states_become(r: Rig, alert_id: int, expected: dict[str, str]) -> None:
    """The store records a delivery only after the server's reply, so the fake may see it first."""

    async def recorded() -> bool:
        return await r.states(alert_id) == expected

    await eventually(recorded, what=f"alert {alert_id} recorded as {expected}")


def first_gap_after(arrivals_s: list[float], index: int) -> float:
    return arrivals_s[index + 1] - arrivals_s[index]


async def test_bursts_and_throttling_deliver_everything_once_with_no_violation(tmp_path: Path) -> None:
    per_symbol = {"group_by": ["symbol"], "group_wait_s": 0, "retry_initial_s": 0.2, "retry_max_s": 1.0}
    async with rig(tmp_path, **per_symbol) as r:
        r.discord.inject_server_errors(2, status=502)
        r.discord.inject_rate_limit(0.75)  # a float, as Discord sends it
        r.telegram.inject_server_errors(1, status=500)
        r.telegram.inject_rate_limit(1)
        # One message per alert: 8 messages overrun Discord's 5-per-2-s bucket and take 8 s on Telegram.
        ids = await submit_bar_close(r.service, 8)
        await eventually(lambda: len(r.discord_symbols()) == 8, timeout_s=30, what="Discord delivery")
        await eventually(lambda: len(r.telegram_symbols()) == 8, timeout_s=30, what="Telegram delivery")

        assert_each_once(r.discord_symbols(), ids)
        assert_each_once(r.telegram_symbols(), ids)
        assert r.discord.rate_limit_violations == 0
        assert r.telegram.rate_limit_violations == 0
        assert r.discord.requests == 8 + 3  # two 5xx and one 429, each retried once through the queue
        assert r.telegram.requests == 8 + 2
        assert first_gap_after(r.discord.arrivals_s, 2) >= 0.75  # request 3 got the 429
        assert first_gap_after(r.telegram.arrivals_s, 1) >= 1.0  # request 2 got the 429
        states = r.service.channel_states()
        assert [states[c].state for c in CHANNELS] == [ChannelState.ACTIVE] * 2
        assert (states["discord"].retries, states["telegram"].retries) == (3, 2)
        for alert_id in ids.values():
            await states_become(r, alert_id, {"discord": "sent", "telegram": "sent"})
        assert r.inbox.messages == []  # nothing here is an operator matter


def delete_webhook(r: Rig) -> None:
    r.discord.delete_webhook(r.webhook_url)


BREAKAGES: dict[str, tuple[str, Callable[[Rig], None], str]] = {
    "discord 404 webhook deleted": ("discord", delete_webhook, "webhook deleted"),
    "telegram 403 blocked": ("telegram", lambda r: r.telegram.block_bot(CHAT_ID), "403 Forbidden"),
    "telegram 400 chat not found": ("telegram", lambda r: r.telegram.remove_chat(CHAT_ID), "chat not found"),
    "telegram 401 token revoked": ("telegram", lambda r: r.telegram.revoke_bot(BOT_TOKEN), "401"),
}


@pytest.mark.parametrize("breakage", list(BREAKAGES))
async def test_a_permanent_error_disables_only_its_channel_and_tells_the_operator(
    tmp_path: Path, breakage: str
) -> None:
    broken, break_it, error_text = BREAKAGES[breakage]
    [healthy] = [c for c in CHANNELS if c != broken]
    async with rig(tmp_path, group_wait_s=0) as r:
        break_it(r)
        [first] = (await submit_bar_close(r.service, 1)).values()
        await eventually(
            lambda: r.service.channel_states()[broken].state is ChannelState.FAILED, what="channel disabled"
        )
        # The operator is told, and the alert pending on the dead channel is rerouted to the fallbacks.
        await eventually(lambda: len(r.inbox.messages) == 2, what="the operator email and the rerouted alert")
        await eventually(
            lambda: r.oplog.exists() and len(r.oplog.read_text().splitlines()) == 2, what="operator log lines"
        )
        await eventually(lambda: len(r.symbols(healthy)) == 1, what="the healthy channel's delivery")
        await states_become(r, first, {broken: "failed", healthy: "sent", "oplog": "sent", "email": "sent"})
        assert r.requests(broken) == 1  # a permanent error is never retried

        [mail] = [m for m in r.inbox.messages if f"alert channel {broken} disabled" in m["Subject"]]
        assert mail["Subject"].startswith("[CRITICAL]")
        text, _html = mail.iter_parts()
        assert error_text in text.get_content()
        titles = sorted(json.loads(line)["title"] for line in r.oplog.read_text().splitlines())
        assert titles[0].startswith(f"[rerouted from {broken}] ")
        assert titles[1] == f"⚠️ Operator: alert channel {broken} disabled"

        # Later alerts skip the dead channel (no request reaches it) and still reach the healthy one.
        later = await submit_bar_close(r.service, 3, first=1)
        await eventually(lambda: len(r.symbols(healthy)) == 4, what="later alerts on the healthy channel")
        for alert_id in later.values():
            await states_become(r, alert_id, {healthy: "sent"})
        assert r.requests(broken) == 1
        assert len(r.inbox.messages) == 2  # one incident, one email (and the one rerouted alert)
