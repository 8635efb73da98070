"""End to end: `cryptoradar run` in a child process against the simulator, with its only primary channel
answering 401. Every alert reaches the fallback webhook exactly once, marked as rerouted; the failed
deliveries are listed by `cryptoradar alerts list --failed` (another child process)."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from process_harness import CLI, free_port, simulator_process, spawn, write_yaml
from test_app_lifecycle_process import DEADLINE_S
from test_app_lifecycle_process import _config as lifecycle_config

from conftest import eventually
from fakes._server import LoopbackServer


@dataclass
class Receiver:
    """Answers 401 on /primary; records every alert POSTed to /fallback."""

    base_url: str = ""
    primary_requests: int = 0
    fallback_alerts: list[dict[str, Any]] = field(default_factory=list)
    operator_notices: list[dict[str, Any]] = field(default_factory=list)

    async def primary(self, request: web.Request) -> web.Response:
        await request.read()
        self.primary_requests += 1
        return web.Response(status=401, text="Unauthorized")

    async def fallback(self, request: web.Request) -> web.Response:
        for alert in (await request.json())["alerts"]:
            # Operator notices (id 0: "alert channel primary disabled") go to the fallback channels too.
            (self.fallback_alerts if alert["alert_id"] else self.operator_notices).append(alert)
        return web.Response(status=204)


@asynccontextmanager
async def receiver() -> AsyncIterator[Receiver]:
    target = Receiver()
    app = web.Application()
    app.router.add_post("/primary", target.primary)
    app.router.add_post("/fallback", target.fallback)
    async with LoopbackServer(app) as server:
        target.base_url = server.base_url
        yield target


def _config(
    tmp_path: Path, spot_url: str, futures_url: str, hook_url: str, api_port: int
) -> dict[str, object]:
    """The lifecycle test's service (momentum alerting on nearly every bar), with two webhook channels."""
    config = lifecycle_config(tmp_path, spot_url, futures_url, hook_url, api_port, move_pct=0.0001)
    hook = lambda path: {"type": "webhook", "url": f"{hook_url}{path}", "secret": "s", "rate_limits": []}  # noqa: E731
    config["alerts"] = {
        "channels": {"primary": hook("/primary"), "fb": hook("/fallback")},
        "default_channels": ["primary"],
        "fallback_channels": ["fb"],
        "group_wait_s": 0,
        "cooldowns": {},
        "retry_initial_s": 0.1,
        "retry_max_s": 0.5,
    }
    return config


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_run_with_its_only_channel_answering_401_delivers_every_alert_to_the_fallback_once(
    tmp_path: Path,
) -> None:
    async with simulator_process(tmp_path) as (spot_url, futures_url), receiver() as hooks:
        api_port = free_port()
        config = write_yaml(
            tmp_path / "radar.yaml", _config(tmp_path, spot_url, futures_url, hooks.base_url, api_port)
        )
        async with aiohttp.ClientSession() as http:

            async def simulator_up() -> bool:
                try:
                    async with http.get(f"{spot_url}/api/v3/time") as response:
                        return response.status == 200
                except aiohttp.ClientError:
                    return False

            await eventually(simulator_up, 30, "the simulator process serving REST")
        run = await spawn(["run", "--config", str(config)], tmp_path, "run")
        try:
            await eventually(lambda: len(hooks.fallback_alerts) >= 5, 90, "alerts on the fallback webhook")
            api_url = f"http://127.0.0.1:{api_port}/api/alerts/failed?limit=3"
            async with aiohttp.ClientSession() as http, http.get(api_url) as response:
                assert response.status == 200
                failed = await response.json()
            assert len(failed) == 3
            for item in failed:
                assert (item["channel"], item["rerouted_to"]) == ("primary", ["fb"])
                assert item["reason"] == "primary: receiver rejected the request (401)"
            run.send(signal.SIGTERM)
            assert await run.wait(DEADLINE_S + 5) == 0
        finally:
            await run.kill()

    assert hooks.primary_requests == 1, "a permanent error is not retried, later alerts skip the channel"
    assert [a["title"] for a in hooks.operator_notices] == ["⚠️ Operator: alert channel primary disabled"]
    delivered = Counter(int(a["alert_id"]) for a in hooks.fallback_alerts)
    assert [i for i, n in delivered.items() if n > 1] == [], "an alert reached the fallback twice"
    assert all(a["title"].startswith("[rerouted from primary] ") for a in hooks.fallback_alerts)
    assert all(
        "Rerouted from primary: receiver rejected the request (401)" in a["body"]
        for a in hooks.fallback_alerts
    )

    db = sqlite3.connect(tmp_path / "radar.db")
    stored = {r[0] for r in db.execute("SELECT id FROM alerts")}
    assert set(delivered) == stored, "every stored alert reached the fallback"
    states = set(db.execute("SELECT channel, state, rerouted_from FROM deliveries"))
    assert states == {("primary", "failed", None), ("fb", "sent", "primary")}
    db.close()

    listing = await asyncio.create_subprocess_exec(
        str(CLI), "alerts", "list", "--failed", "--limit", "1000", "--config", str(config),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env={**os.environ, "COLUMNS": "250"},
    )  # fmt: skip
    out, err = await asyncio.wait_for(listing.communicate(), 30)
    assert listing.returncode == 0, err.decode()
    rows = [line for line in out.decode().splitlines() if "primary" in line and "401" in line]
    assert len(rows) == len(stored), out.decode()
    assert all("fb" in row for row in rows)
