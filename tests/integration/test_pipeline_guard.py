"""The live pipeline survives what used to stop it for good: a store that is locked (SQLite busy) stalls
it, `/healthz` turns red while events pile up, and once the lock goes every signal still becomes one
delivered alert (nothing dropped, nothing twice). Real simulator, real SQLite file, real API socket."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import aiohttp

from conftest import eventually
from cryptoradar.app import Radar, settings_for
from cryptoradar.config import Settings
from cryptoradar.config.alerts import AlertsConfig, LogChannel
from cryptoradar.config.api import ApiConfig
from cryptoradar.config.detectors import ConfluenceConfig, DetectorsConfig
from cryptoradar.config.lifecycle import LifecycleConfig
from cryptoradar.core.metrics import REGISTRY
from cryptoradar.sim import SimOptions, Simulator


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _retried_store_errors() -> float:
    labels = {"stage": "admit", "error": "OperationalError", "outcome": "retried"}
    return REGISTRY.get_sample_value("cryptoradar_pipeline_errors_total", labels) or 0.0


async def test_a_locked_store_stalls_the_pipeline_red_then_every_alert_arrives_once(tmp_path: Path) -> None:
    alerts_file = tmp_path / "alerts.jsonl"
    options = SimOptions(seed=31, symbols=20, futures_symbols=4, acceleration=120.0, history_bars=120)
    retried_before = _retried_store_errors()
    async with Simulator(options) as sim:
        symbols = tuple(sorted(sim.symbols))
        base = Settings(
            alerts=AlertsConfig(
                channels={"file": LogChannel(path=alerts_file)},
                default_channels=("file",),
                fallback_channels=("file",),
                group_wait_s=0.0,
            ),
            # Loose confluence on every symbol: signals keep coming, so one meets the lock.
            detectors=DetectorsConfig(confluence=ConfluenceConfig(symbols=symbols, min_factors=2)),
            api=ApiConfig(port=0),
            lifecycle=LifecycleConfig(pipeline_stall_s=1.0),
        )
        settings = settings_for(sim, base, tmp_path)
        radar = Radar(settings, clock=sim.clock)
        await radar.start()
        base_url = f"http://127.0.0.1:{radar.api_port}"

        async def healthz() -> tuple[int, dict[str, str]]:
            async with http.get(f"{base_url}/healthz") as response:
                return response.status, await response.json()

        try:
            async with aiohttp.ClientSession() as http:
                await eventually(lambda: radar.stats.alerts >= 1, timeout_s=90, what="a first alert")
                assert (await healthz())[0] == 200
                # Another process holds the write lock: every write of the radar waits, then fails busy.
                locker = sqlite3.connect(settings.storage.sqlite_path, isolation_level=None)
                locker.execute("BEGIN EXCLUSIVE")
                try:
                    await eventually(
                        lambda: _retried_store_errors() > retried_before,
                        timeout_s=60,
                        what="a signal's store write failing busy and being retried",
                    )

                    async def red() -> bool:
                        return (await healthz())[0] == 503

                    await eventually(red, timeout_s=30, what="/healthz reporting the stalled pipeline")
                    status, body = await healthz()
                    assert (status, body["status"]) == (503, "stalled")
                    assert "pipeline stalled" in body["detail"]
                    assert "pipeline_stall_s" in body["detail"]
                    alerts_while_locked = radar.stats.alerts
                finally:
                    locker.execute("ROLLBACK")
                    locker.close()

                async def green() -> bool:
                    return (await healthz())[0] == 200

                await eventually(green, timeout_s=60, what="/healthz green once the store is writable")
                await eventually(
                    lambda: radar.stats.alerts > alerts_while_locked,
                    timeout_s=60,
                    what="the held signal and later ones alerted",
                )

                # An exception nothing handles (a callback's) reaches the operator through the loop's handler.
                def broken_callback() -> None:
                    raise RuntimeError("callback bug")

                asyncio.get_running_loop().call_soon(broken_callback)
                await eventually(
                    lambda: any("callback bug" in line for line in _lines(alerts_file)),
                    timeout_s=10,
                    what="the unhandled error announced on the operator channel",
                )
        finally:
            await radar.stop(timeout_s=15)

    # Alert id 0: operator notices (the busy store, the unhandled error), which are not alerts.
    delivered = [e for e in map(json.loads, _lines(alerts_file)) if e["alert_id"] != 0]
    ids = [entry["alert_id"] for entry in delivered]
    assert len(ids) == len(set(ids)), "an alert was delivered twice"
    assert len(ids) == radar.stats.alerts, "every alert reaches the channel: the busy store lost none"
    assert _retried_store_errors() > retried_before
