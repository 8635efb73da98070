"""The whole live path over real loopback sockets: simulator -> feed -> detectors -> outbox -> sink."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp

from conftest import eventually
from cryptoradar.app import Radar, settings_for
from cryptoradar.config import Settings
from cryptoradar.config.alerts import AlertsConfig, LogChannel
from cryptoradar.config.api import ApiConfig
from cryptoradar.sim import SimOptions, Simulator


async def test_simulated_market_reaches_an_alert_file_exactly_once(tmp_path: Path) -> None:
    alerts_file = tmp_path / "alerts.jsonl"
    options = SimOptions(seed=21, symbols=40, futures_symbols=8, acceleration=120.0, history_bars=120)
    async with Simulator(options) as sim:
        base = Settings(
            alerts=AlertsConfig(
                channels={"file": LogChannel(path=alerts_file)},
                default_channels=("file",),
                fallback_channels=("file",),
                group_wait_s=0.0,
            ),
            api=ApiConfig(port=0),
        )
        settings = settings_for(sim, base, tmp_path)
        radar = Radar(settings)
        await radar.start()
        try:
            await eventually(
                lambda: radar.stats.bars_closed > 2_000 and radar.stats.alerts >= 3,
                timeout_s=90,
                what="closed bars and alerts from the simulated market",
            )
            base_url = f"http://127.0.0.1:{radar.api_port}"
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{base_url}/healthz") as response:
                    assert response.status == 200
                async with http.get(f"{base_url}/api/alerts", params={"limit": "50"}) as response:
                    listed = (await response.json())["items"]
                assert listed, "alerts in the store are listed by the API"
                async with http.get(f"{base_url}/metrics") as response:
                    metrics = await response.text()
                assert 'cryptoradar_bars_closed_total{interval="1m",market="spot"' in metrics
        finally:
            await radar.stop(timeout_s=15)

    assert radar.stats.trades > 0
    assert radar.stats.liquidations > 0
    delivered = [json.loads(line) for line in alerts_file.read_text().splitlines()]
    ids = [entry["alert_id"] for entry in delivered]
    assert len(ids) == len(set(ids)), "an alert was delivered twice"
    assert len(ids) == radar.stats.alerts, "every stored alert reaches the channel, including at shutdown"
