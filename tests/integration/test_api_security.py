"""Bearer-token access and secret hygiene of the real server: no endpoint ever returns a configured secret."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest
from api_harness import NOW_MS, FakeAlerts, healthy_fakes, make_signal, running_api
from pydantic import SecretStr

from cryptoradar.api.live import LiveHub, LiveKind
from cryptoradar.api.readiness import StandardHealth
from cryptoradar.api.security import REDACTED, requires_token
from cryptoradar.api.server import ApiServer
from cryptoradar.api.views import AlertView, ChannelView, ConnectionView
from cryptoradar.config import load_settings
from cryptoradar.config.api import ApiConfig
from cryptoradar.core.clock import ManualClock
from cryptoradar.core.errors import ConfigError
from cryptoradar.events import ConnectionState

TOKEN = "canary-api-token-5f1d0c"
TELEGRAM = "123456:canary-telegram-bot-token"
DSN = "postgresql://radar:canary-db-password@db/radar"

GET_PATHS = [
    "/healthz",
    "/readyz",
    "/metrics",
    "/api/alerts",
    "/api/alerts?limit=2&cursor=5",
    "/api/symbols",
    "/api/connections",
    "/api/channels",
    "/api/silences",
    "/api/bars?symbol=BTCUSDT&interval=1m",
    "/api/stats",
    "/",
    "/static/app.js",
    "/static/style.css",
    f"/api/nothing/{TELEGRAM}",
    f"/api/bars?symbol=BTCUSDT&interval={TELEGRAM}",
]


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    ("host", "required"),
    [
        ("127.0.0.1", False),
        ("127.0.0.2", False),
        ("::1", False),
        ("localhost", False),
        ("0.0.0.0", True),
        ("", True),
        ("192.168.1.10", True),
        ("::", True),
        ("radar.example.org", True),
    ],
)
def test_requires_token_only_off_loopback(host: str, required: bool) -> None:
    assert requires_token(host) is required


def test_exposed_bind_without_token_fails_at_config_load_and_names_the_key(tmp_path: Path) -> None:
    config_file = tmp_path / "config.yaml"
    config_file.write_text("api:\n  host: 0.0.0.0\n")
    with pytest.raises(ConfigError, match=r"api\.token is required"):
        load_settings(config_file)
    config_file.write_text("api:\n  host: 0.0.0.0\n  token: long-enough-token\n")
    assert load_settings(config_file).api.host == "0.0.0.0"


def test_exposed_bind_without_token_refuses_to_start_even_if_config_validation_was_bypassed() -> None:
    alerts, market = healthy_fakes()
    config = ApiConfig.model_construct(host="0.0.0.0", port=0)

    async def probe() -> None:
        return None

    with pytest.raises(ConfigError, match=r"api\.token"):
        ApiServer(
            config,
            health=StandardHealth(market, alerts, probe, 2.0),
            alerts=alerts,
            market=market,
            live=LiveHub(),
            clock=ManualClock(),
        )


async def test_token_is_required_when_configured() -> None:
    async with running_api(token=TOKEN) as h, aiohttp.ClientSession(h.base_url) as session:
        for path in ["/api/alerts", "/readyz", "/metrics", "/api/events", "/api/silences"]:
            async with session.get(path) as response:
                assert response.status == 401, path
                assert TOKEN not in await response.text()
            async with session.get(path, headers=auth("wrong-token")) as response:
                assert response.status == 401, path
        async with session.post("/api/silences", json={"matchers": [], "until_ms": 1}) as response:
            assert response.status == 401
        async with session.get("/api/alerts", headers=auth()) as response:
            assert response.status == 200
        async with session.get("/readyz", headers=auth()) as response:
            assert response.status == 200
        # The probe and the dashboard shell stay open: they carry no data.
        for path in ["/healthz", "/", "/static/app.js"]:
            async with session.get(path) as response:
                assert response.status == 200, path


def alerts_carrying_canaries() -> FakeAlerts:
    alerts, _ = healthy_fakes()
    signal = make_signal("BTCUSDT")
    leaky = type(signal)(
        **{**{f: getattr(signal, f) for f in signal.__struct_fields__}, "labels": {"note": DSN}}
    )
    alerts.add_alert(leaky, NOW_MS)
    alerts.channel_views.append(ChannelView("telegram-2", "failed", last_error=f"401 for bot{TELEGRAM}"))
    return alerts


async def test_no_endpoint_returns_a_configured_secret() -> None:
    alerts = alerts_carrying_canaries()
    canaries = [TOKEN, TELEGRAM, DSN]
    async with (
        running_api(token=TOKEN, secrets=[TELEGRAM, DSN], alerts=alerts) as h,
        aiohttp.ClientSession(h.base_url, headers=auth()) as session,
    ):
        h.market.connection_views.append(
            ConnectionView("evm", "polygon-0", ConnectionState.FAILED, detail=f"rpc {DSN} refused")
        )
        outputs: dict[str, bytes] = {}
        for path in GET_PATHS:
            async with session.get(path) as response:
                outputs[path] = await response.read() + str(dict(response.headers)).encode()
        bad_silence = {"matchers": [f"token {TELEGRAM}"], "until_ms": NOW_MS + 60_000, "reason": DSN}
        async with session.post("/api/silences", json=bad_silence) as response:
            assert response.status == 400
            outputs["POST /api/silences"] = await response.read()
        async with session.get("/api/events") as response:
            await response.content.readline()
            h.hub.publish(LiveKind.ALERT, AlertView(77, NOW_MS, alerts.alerts[-1].signal))
            outputs["/api/events"] = await response.content.readuntil(b"\n\n")
    leaked = [(path, c) for path, body in outputs.items() for c in canaries if c.encode() in body]
    assert leaked == []
    # The data really carried the canaries: they were scrubbed, not absent.
    for path in ["/api/alerts", "/api/channels", "/api/connections", "/api/events", "POST /api/silences"]:
        assert REDACTED in outputs[path], path
    assert json.loads(outputs["/api/events"].split(b"data: ", 1)[1])["id"] == 77


async def test_secret_in_config_token_is_scrubbed_even_without_being_passed_as_secret() -> None:
    alerts, _ = healthy_fakes()
    alerts.channel_views.append(ChannelView("webhook", "failed", last_error=f"echoed {TOKEN}"))
    async with (
        running_api(token=TOKEN, alerts=alerts) as h,
        aiohttp.ClientSession(h.base_url, headers=auth()) as session,
        session.get("/api/channels") as response,
    ):
        body = await response.read()
    assert TOKEN.encode() not in body
    assert REDACTED in body


def test_token_never_appears_in_the_config_repr() -> None:
    config = ApiConfig(token=SecretStr(TOKEN))
    assert TOKEN not in repr(config)
    assert TOKEN not in str(config.model_dump())
