"""Canary secrets: the demo runs as a real process with a unique canary in EVERY secret field of the
config, its channels pointed at closed loopback ports (so connection errors carrying URLs happen), and no
canary may appear in stdout, stderr, the log file, /metrics, /readyz, any /api/* answer, the dashboard's
HTML/JS/CSS or the store's bytes.

Which fields are secret is read from the pydantic models (`secret_fields`), so a secret field added
anywhere under `Settings` fails this test until the canary config below sets it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import types
import typing
import uuid
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from process_harness import free_port, spawn, write_yaml
from pydantic import BaseModel, SecretBytes, SecretStr

from conftest import eventually
from cryptoradar.api.security import secret_values
from cryptoradar.config import Settings, load_settings
from cryptoradar.core.logging import REDACTED, configure_logging
from cryptoradar.events import Severity
from cryptoradar.notifications import Notification, RenderedAlert
from cryptoradar.sinks.apprise_bridge import AppriseSink


def secret_fields(model: type[BaseModel], seen: set[type[BaseModel]] | None = None) -> set[str]:
    """`Model.field` for every field under `model` whose type contains SecretStr/SecretBytes."""
    seen = seen if seen is not None else set()
    if model in seen:
        return set()
    seen.add(model)
    found: set[str] = set()
    for name, info in model.model_fields.items():
        for kind in _leaf_types(info.annotation):
            if kind in (SecretStr, SecretBytes):
                found.add(f"{model.__name__}.{name}")
            elif isinstance(kind, type) and issubclass(kind, BaseModel):
                found |= secret_fields(kind, seen)
    return found


def _leaf_types(annotation: object) -> list[object]:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _leaf_types(typing.get_args(annotation)[0])
    if origin is None and not isinstance(annotation, types.UnionType):
        return [annotation]
    return [leaf for arg in typing.get_args(annotation) for leaf in _leaf_types(arg)]


def configured_secrets(node: object, owner: str = "") -> dict[str, list[str]]:
    """`Model.field` -> the non-empty secret values set in a loaded settings object."""
    out: dict[str, list[str]] = {}

    def walk(value: object, where: str) -> None:
        if isinstance(value, SecretStr | SecretBytes):
            secret = value.get_secret_value()
            text = secret.decode() if isinstance(secret, bytes) else secret
            if text:
                out.setdefault(where, []).append(text)
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name), f"{type(value).__name__}.{name}")
        elif isinstance(value, dict):
            for item in value.values():
                walk(item, where)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item, where)

    walk(node, owner)
    return out


def _config(tmp_path: Path, token: str) -> dict[str, object]:
    closed = free_port()  # nothing listens here: every delivery fails with a connection error
    base = f"http://127.0.0.1:{closed}"

    def canary(name: str) -> str:
        return f"{token}{name}"

    wallet = "0x" + "ab" * 20
    return {
        "log": {"level": "DEBUG", "format": "json", "file": {"path": str(tmp_path / "logs" / "demo.jsonl")}},
        "sim": {"symbols": 16, "futures_symbols": 4, "acceleration": 120},
        "binance": {"spot_intervals": ["1m", "5m"], "bootstrap_bars": 30},
        "storage": {"postgres_dsn": f"postgresql://radar:{canary('pgpass')}@127.0.0.1:{closed}/radar"},
        "api": {"token": canary("apitoken")},
        "alerts": {
            "channels": {
                "log": {"type": "log", "path": str(tmp_path / "alerts.jsonl")},
                "discord": {"type": "discord", "webhook_url": f"{base}/api/webhooks/1/{canary('discord')}"},
                "telegram": {"type": "telegram", "bot_token": f"12345:{canary('tgtoken')}", "chat_id": "42",
                             "api_base_url": base},
                "email": {"type": "email", "host": "127.0.0.1", "port": closed, "username": "radar",
                          "password": canary("smtppass"), "security": "starttls", "sender": "radar@example.org",
                          "recipients": ["ops@example.org"], "attempts": 1, "retry_delay_s": 0},
                "webhook": {"type": "webhook", "url": f"{base}/hook/{canary('hookurl')}",
                            "secret": canary("hooksecret")},
                # Apprise rewrites these (json:// -> http://, the query reordered, tgram's token apart):
                # only the URL's pieces, encoded or decoded, can be matched in what it logs.
                "apprise": {"type": "apprise", "urls": [
                    f"json://radar:{canary('apprisepw')}%40x%2Fy@127.0.0.1:{closed}/{canary('apprise')}"
                    f"?token={canary('appriseq')}",
                    f"tgram://123456789:{canary('appriseTg')}/42",
                ]},
            },
            "default_channels": ["log", "discord", "telegram", "email", "webhook", "apprise"],
            "fallback_channels": ["log"],
            "group_wait_s": 0,
            "cooldowns": {},
            "retry_initial_s": 0.1,
            "retry_max_s": 0.5,
        },
        "detectors": {
            "momentum": {"timeframe": "1m", "lookback_bars": 2, "min_move_pct": 0.0001, "volume_z_period": 2,
                         "min_volume_z": -1e9, "min_quote_volume": 0, "atr_period": 1, "trend_timeframes": [],
                         "cooldown_s": 0, "group_wait_ms": 0},
        },
        "evm": {
            "enabled": False,
            "chains": [{
                "name": "polygon",
                "ws_url": f"ws://127.0.0.1:{closed}/{canary('rpcws')}",
                "http_url": f"{base}/{canary('rpchttp')}",
                "explorer_api": {"base_url": base, "api_key": canary("explorerkey")},
            }],
            "wallets": [{"address": wallet, "chain": "polygon"}],
            "executor_webhook": {"url": f"{base}/exec/{canary('execurl')}", "secret": canary("execsecret")},
        },
    }  # fmt: skip


async def _get(http: aiohttp.ClientSession, url: str, token: str) -> bytes:
    async with http.get(url, headers={"Authorization": f"Bearer {token}"}) as response:
        return await response.read()


async def _sse(http: aiohttp.ClientSession, url: str, token: str, read_s: float) -> bytes:
    """What the live stream sends in `read_s` seconds."""
    chunks: list[bytes] = []

    async def read() -> None:
        async with http.get(url, headers={"Authorization": f"Bearer {token}"}) as response:
            async for chunk in response.content.iter_any():
                chunks.append(chunk)

    with contextlib.suppress(TimeoutError):  # the stream is endless: stopping after read_s is the point
        await asyncio.wait_for(read(), timeout=read_s)
    return b"".join(chunks)


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_no_canary_secret_leaves_the_process(tmp_path: Path) -> None:
    token = f"CNRY{uuid.uuid4().hex[:12]}"
    config = write_yaml(tmp_path / "canary.yaml", _config(tmp_path, token))

    settings = load_settings(config)
    declared = secret_fields(Settings)
    configured = configured_secrets(settings)
    assert declared - set(configured) == set(), "give every secret field a canary in _config()"
    canaries = sorted({v for values in configured.values() for v in values})
    api_token = settings.api.token.get_secret_value()

    state_dir = tmp_path / "state"
    log_file = tmp_path / "logs" / "demo.jsonl"
    demo = await spawn(
        [
            "demo",
            "--config",
            str(config),
            "--duration",
            "60",
            "--log-level",
            "DEBUG",
            "--state-dir",
            str(state_dir),
        ],
        tmp_path,
        "demo",
    )
    outputs: dict[str, bytes] = {}
    try:
        port = 0

        def api_port_logged() -> bool:
            nonlocal port
            assert demo.proc.returncode is None, f"the demo exited early; see {demo.stderr}"
            text = log_file.read_text() if log_file.exists() else ""
            found = re.search(r'"api_port": ?(\d+)', text)
            port = int(found.group(1)) if found else 0
            return port > 0

        await eventually(api_port_logged, 60, "the demo's API port in its log file")
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as http:

            async def every_channel_failed() -> bool:
                body = json.loads(await _get(http, f"{base}/api/channels", api_token))
                failing = {c["channel"] for c in body if c["retries"] > 0 or c["state"] == "failed"}
                return failing >= {"discord", "telegram", "email", "webhook", "apprise"}

            await eventually(every_channel_failed, 60, "every channel failing against closed ports")
            routes = ["/metrics", "/readyz", "/healthz", "/", "/api/alerts", "/api/symbols", "/api/connections",
                      "/api/channels", "/api/silences", "/api/stats", "/api/bars?symbol=BTCUSDT&interval=1m"]  # fmt: skip
            for route in routes:
                outputs[route] = await _get(http, base + route, api_token)
            for asset in re.findall(rb'(?:src|href)="(/static/[^"]+)"', outputs["/"]):
                outputs[asset.decode()] = await _get(http, base + asset.decode(), api_token)
            assert any(k.endswith(".js") for k in outputs), "the dashboard script was fetched"
            outputs["/api/events"] = await _sse(http, f"{base}/api/events", api_token, 2.0)
        demo.send(signal.SIGTERM)
        assert await demo.wait(30) == 0
    finally:
        await demo.kill()

    outputs["stdout"] = demo.stdout.read_bytes()
    outputs["stderr"] = demo.stderr.read_bytes()
    for path in sorted((tmp_path / "logs").iterdir()):
        outputs[f"log file {path.name}"] = path.read_bytes()
    for path in sorted(state_dir.iterdir()):
        outputs[f"store {path.name}"] = path.read_bytes()
    outputs["alert log channel"] = (
        (tmp_path / "alerts.jsonl").read_bytes() if (tmp_path / "alerts.jsonl").exists() else b""
    )
    assert outputs["log file demo.jsonl"], "the demo logged to its file"

    # Every canary holds `token`, in every form (decoded, encoded, a piece of its URL): search for it.
    leaks = [(where, c) for where, blob in outputs.items() for c in canaries if c.encode() in blob]
    leaks += [(where, token) for where, blob in outputs.items() if token.encode() in blob]
    # A leak is reported by field and place, never by value (the failure output is itself an output).
    assert leaks == [], [
        (where, next((k for k, v in configured.items() if c in v), "a piece")) for where, c in leaks
    ]


async def test_apprise_at_debug_logs_its_rewritten_urls_redacted(tmp_path: Path) -> None:
    """Apprise logs `json://user:pw@h/path?token=..` as `http://h/path`, and aiohttp's access log the path:
    neither is the configured string, both must come out redacted (real log file, real delivery)."""
    token = f"CNRY{uuid.uuid4().hex[:12]}"
    received: list[str] = []

    async def receive(request: web.Request) -> web.Response:
        received.append(request.path)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/{tail:.*}", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    url = f"json://radar:{token}pw%40x%2Fy@127.0.0.1:{port}/{token}path?token={token}q"
    telegram = f"tgram://123456789:{token}tg/42"
    log_file = tmp_path / "debug.jsonl"
    settings = Settings.model_validate(
        {
            "alerts": {
                "channels": {"a": {"type": "apprise", "urls": [url, telegram]}},
                "default_channels": ["a"],
                "fallback_channels": ["a"],
            }
        }
    )
    configure_logging("DEBUG", "json", file_path=log_file, secrets=secret_values(settings))
    try:
        AppriseSink([SecretStr(telegram)], name="tg")  # only loaded: Apprise logs the URL it parsed
        sink = AppriseSink([SecretStr(url)])
        alert = RenderedAlert(1, Severity.INFO, "title", "body", (), 0, 0)
        await sink.send(Notification("apprise", (alert,)))
    finally:
        configure_logging("INFO", "json")
        await runner.cleanup()

    assert received == [f"/{token}path"], "delivered, to the path holding the secret"
    text = log_file.read_text()
    assert "JSON POST URL: http://127.0.0.1" in text, "Apprise logged the rewritten URL"
    assert "Loaded Telegram URL" in text
    assert f"POST /{REDACTED}" in text, "aiohttp's access log line, path redacted"
    assert token not in text
