"""Channel failover through the real AlertService, SQLite outbox, real sinks and local fake servers: an
alert whose channel fails permanently (401) or stays down (500) past `alerts.failover_after_s` reaches
the fallback channel once, marked "rerouted from", and the failed delivery is listed by
`cryptoradar alerts list --failed`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from typer.testing import CliRunner

from conftest import eventually
from cryptoradar.alerts.delivery import ChannelState
from cryptoradar.cli import app
from cryptoradar.config.alerts import AlertsConfig
from cryptoradar.storage.sqlite import SqliteStore
from fakes._server import LoopbackServer
from fakes.alerts import running_service
from fakes.signals import make_signal
from fakes.telegram import FakeTelegram

BOT_TOKEN = "123456:failover-test-token"
CHAT_ID = "4242"


@dataclass
class Hook:
    """One webhook endpoint answering `status`; records the alerts it accepted (2xx) and every request."""

    status: int = 200
    requests: int = 0
    accepted: list[dict[str, Any]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests += 1
        if self.status >= 300:
            return web.Response(status=self.status, text="Unauthorized" if self.status == 401 else "down")
        self.accepted.extend(body["alerts"])
        return web.Response(status=204)

    @property
    def ids(self) -> list[int]:
        return [int(a["alert_id"]) for a in self.accepted]


@dataclass
class Hooks:
    primary: Hook
    fallback: Hook
    base_url: str


@pytest.fixture
async def hooks() -> AsyncIterator[Hooks]:
    primary, fallback = Hook(), Hook()
    application = web.Application()
    application.router.add_post("/primary", primary.handle)
    application.router.add_post("/fallback", fallback.handle)
    async with LoopbackServer(application) as server:
        yield Hooks(primary, fallback, server.base_url)


def _hook(url: str) -> dict[str, object]:
    return {"type": "webhook", "url": url, "secret": "failover-secret", "rate_limits": []}


def _config(hooks: Hooks, more_channels: dict[str, Any] | None = None, **alerts: object) -> AlertsConfig:
    return AlertsConfig.model_validate(
        {
            "channels": {
                "primary": _hook(f"{hooks.base_url}/primary"),
                "fb": _hook(f"{hooks.base_url}/fallback"),
                **(more_channels or {}),
            },
            "default_channels": ["primary"],
            "fallback_channels": ["fb"],
            "group_wait_s": 0,
            "cooldowns": {},
            "retry_initial_s": 0.05,
            "retry_max_s": 0.1,
            **alerts,
        }
    )


def _each_once(ids: list[int], expected: list[int]) -> None:
    assert sorted(ids) == sorted(expected), f"delivered {sorted(ids)}, expected each of {expected} once"


async def test_permanent_401_reroutes_pending_alerts_to_telegram_once_and_the_cli_lists_them(
    tmp_path: Path, hooks: Hooks
) -> None:
    hooks.primary.status = 401
    async with FakeTelegram() as telegram:
        telegram.add_bot(BOT_TOKEN)
        telegram.add_chat(CHAT_ID)
        tg = {
            "type": "telegram",
            "bot_token": BOT_TOKEN,
            "chat_id": CHAT_ID,
            "api_base_url": telegram.api_base_url,
        }
        config = _config(hooks, {"tg": tg}, failover_after_s=None, fallback_channels=["tg"])
        db = tmp_path / "radar.db"
        async with running_service(config, db) as (service, store):
            ids = [await service.submit(make_signal(symbol=f"DEAD{i}USDT")) for i in range(3)]
            assert None not in ids
            await eventually(
                lambda: service.channel_states()["primary"].state is ChannelState.FAILED,
                what="primary failed",
            )
            text = lambda: "\n".join(m.visible_text for m in telegram.messages)  # noqa: E731
            await eventually(
                lambda: all(f"DEAD{i}USDT" in text() for i in range(3)), what="the alerts on Telegram"
            )
            # A later alert routed only to the dead channel is rerouted as well (no request reaches it).
            later = await service.submit(make_signal(symbol="LATERUSDT"))
            await eventually(lambda: "LATERUSDT" in text(), what="the later alert on Telegram")
            assert hooks.primary.requests == 1  # a permanent error is never retried
            for alert_id in [*ids, later]:
                assert alert_id is not None
                deliveries = {d.channel: d for d in await store.deliveries(alert_id)}
                assert deliveries["primary"].state == "failed"
                assert "401" in (deliveries["primary"].last_error or "")
                assert deliveries["tg"].state == "sent"
        lines = text().splitlines()
        for symbol in ["DEAD0USDT", "DEAD1USDT", "DEAD2USDT", "LATERUSDT"]:
            titles = [
                line for line in lines if line.startswith("[rerouted from primary] ") and symbol in line
            ]
            assert len(titles) == 1, text()
        reasons = [line for line in lines if "Rerouted from primary: receiver rejected the request" in line]
        assert len(reasons) == 4
        assert all("(401)" in line for line in reasons)

        cli_config = tmp_path / "radar.yaml"
        cli_config.write_text(f"storage:\n  sqlite_path: {db}\n", encoding="utf-8")
        args = ["alerts", "list", "--failed", "--config", str(cli_config)]
        result = await asyncio.to_thread(CliRunner().invoke, app, args, env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        rows = [line for line in result.output.splitlines() if "DEAD" in line or "LATER" in line]
        assert len(rows) == 4, result.output
        for row in rows:
            assert "primary" in row
            assert "401" in row
            assert "tg" in row


async def test_500_past_failover_after_reroutes_and_recovery_sends_nothing_twice(
    tmp_path: Path, hooks: Hooks
) -> None:
    hooks.primary.status = 500
    config = _config(hooks, failover_after_s=0.3)
    async with running_service(config, tmp_path / "radar.db") as (service, store):
        rerouted = [await service.submit(make_signal(symbol=f"DOWN{i}USDT")) for i in range(3)]
        await eventually(
            lambda: len(hooks.fallback.accepted) == 3, what="the alerts rerouted to the fallback"
        )
        _each_once(hooks.fallback.ids, [i for i in rerouted if i is not None])
        for alert in hooks.fallback.accepted:
            assert alert["title"].startswith("[rerouted from primary] ")
            assert "Rerouted from primary: down for" in alert["body"]
        assert hooks.primary.requests >= 2, "retried before failing over"
        assert service.channel_states()["primary"].state is not ChannelState.FAILED
        # Still down: an alert arriving now is tried there once more, then rerouted without a new wait.
        tried = hooks.primary.requests
        late = await service.submit(make_signal(symbol="LATEUSDT"))
        await eventually(
            lambda: late in hooks.fallback.ids, what="a later alert rerouted on its first failure"
        )
        assert hooks.primary.requests == tried + 1
        rerouted.append(late)

        # The primary recovers: new alerts go there; the rerouted ones are neither resent nor duplicated.
        hooks.primary.status = 200
        after = await service.submit(make_signal(symbol="BACKUSDT"))
        assert after is not None
        await eventually(lambda: hooks.primary.ids == [after], what="a new alert on the recovered primary")
        for alert_id in rerouted:
            assert alert_id is not None
            states = {d.channel: d.state for d in await store.deliveries(alert_id)}
            assert states == {"primary": "failed", "fb": "sent"}
        assert [d.channel for d in await store.deliveries(after)] == ["primary"]
    _each_once(hooks.fallback.ids, [i for i in rerouted if i is not None])
    assert hooks.primary.ids == [after]


async def test_a_restart_mid_failover_loses_nothing_and_sends_nothing_twice(
    tmp_path: Path, hooks: Hooks
) -> None:
    hooks.primary.status = 401
    hooks.fallback.status = 503  # the rerouted deliveries stay pending on the fallback at the restart
    db = tmp_path / "radar.db"
    config = _config(hooks, failover_after_s=None)
    async with running_service(config, db) as (service, store):
        ids = [await service.submit(make_signal(symbol=f"KEEP{i}USDT")) for i in range(3)]
        await eventually(lambda: hooks.fallback.requests >= 1, what="the fallback tried")

        async def rerouted_pending() -> bool:
            pending = await store.pending_deliveries()
            return sorted((p.alert_id, p.channel, p.rerouted_from) for p in pending) == [
                (i, "fb", "primary") for i in ids
            ]

        await eventually(rerouted_pending, what="rerouted deliveries pending in the outbox")
    primary_requests = hooks.primary.requests
    assert hooks.fallback.accepted == []

    hooks.fallback.status = 200
    async with running_service(config, db) as (service, store):
        await eventually(
            lambda: len(hooks.fallback.accepted) == 3, what="the rerouted alerts after the restart"
        )
        for alert in hooks.fallback.accepted:
            assert alert["title"].startswith("[rerouted from primary] ")
            assert "Rerouted from primary: receiver rejected the request (401)" in alert["body"]
        await eventually(lambda: _none_pending(store), what="nothing left pending")
    _each_once(hooks.fallback.ids, [i for i in ids if i is not None])
    assert hooks.primary.requests == primary_requests, "the failed primary deliveries are not resumed"


async def _none_pending(store: SqliteStore) -> bool:
    return list(await store.pending_deliveries()) == []


def test_a_fallback_must_name_another_defined_channel(hooks: Hooks) -> None:
    with pytest.raises(ValueError, match="names the channel itself"):
        _config(hooks, {"primary": {**_hook("http://x/"), "fallback_channels": ["primary"]}})
    with pytest.raises(ValueError, match=r"channels\.primary\.fallback_channels names channel 'nope'"):
        _config(hooks, {"primary": {**_hook("http://x/"), "fallback_channels": ["nope"]}})
    assert (
        _config(hooks, {"primary": {**_hook("http://x/"), "fallback_channels": []}}).fallbacks_of("primary")
        == ()
    )
    assert _config(hooks).fallbacks_of("primary") == ("fb",)
    assert _config(hooks).fallbacks_of("fb") == (), "never itself"
    assert json.loads(_config(hooks).model_dump_json())["failover_after_s"] == 600.0


async def test_without_a_live_fallback_a_channel_down_past_failover_after_keeps_its_alerts(
    tmp_path: Path, hooks: Hooks
) -> None:
    hooks.primary.status = 500
    config = _config(hooks, failover_after_s=0.1, fallback_channels=[])
    async with running_service(config, tmp_path / "radar.db") as (service, store):
        alert_id = await service.submit(make_signal(symbol="HOLDUSDT"))
        assert alert_id is not None
        await eventually(lambda: hooks.primary.requests >= 6, what="retries well past failover_after_s")
        assert [(d.channel, d.state) for d in await store.deliveries(alert_id)] == [("primary", "pending")]
        hooks.primary.status = 200
        await eventually(lambda: hooks.primary.ids == [alert_id], what="the alert once the channel recovers")
    assert hooks.fallback.requests == 0
