"""The whole live path over real loopback sockets: simulator -> feed -> detectors -> outbox -> sink."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp

from conftest import eventually
from cryptoradar.app import Radar, settings_for
from cryptoradar.config import Settings
from cryptoradar.config.alerts import AlertsConfig, LogChannel
from cryptoradar.config.api import ApiConfig
from cryptoradar.config.detectors import ConfluenceConfig, DetectorsConfig
from cryptoradar.sim import SimOptions, Simulator


def _file_alerts_settings(alerts_file: Path, **sections: Any) -> Settings:
    """Every alert delivered at once to `alerts_file` (JSON lines); the other `sections` as given."""
    return Settings(
        alerts=AlertsConfig(
            channels={"file": LogChannel(path=alerts_file)},
            default_channels=("file",),
            fallback_channels=("file",),
            group_wait_s=0.0,
        ),
        **sections,
    )


async def test_simulated_market_reaches_an_alert_file_exactly_once(tmp_path: Path) -> None:
    alerts_file = tmp_path / "alerts.jsonl"
    options = SimOptions(seed=21, symbols=40, futures_symbols=8, acceleration=120.0, history_bars=120)
    async with Simulator(options) as sim:
        base = _file_alerts_settings(alerts_file, api=ApiConfig(port=0))
        settings = settings_for(sim, base, tmp_path)
        radar = Radar(settings, clock=sim.clock)
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


async def test_a_first_start_alerts_what_closes_while_watching_not_the_bootstrap_history(
    tmp_path: Path,
) -> None:
    # Loose confluence on every symbol, so the 100 bootstrapped bars per series are sure to hold setups.
    options = SimOptions(seed=22, symbols=20, futures_symbols=4, acceleration=120.0, history_bars=120)
    async with Simulator(options) as sim:
        symbols = tuple(sorted(sim.symbols))
        base = _file_alerts_settings(
            tmp_path / "alerts.jsonl",
            detectors=DetectorsConfig(confluence=ConfluenceConfig(symbols=symbols, min_factors=2)),
            api=ApiConfig(enabled=False),
        )
        started_ms = sim.now_ms()
        radar = Radar(settings_for(sim, base, tmp_path), clock=sim.clock)
        await radar.start()
        try:
            await eventually(
                lambda: radar.stats.history > 0 and radar.stats.alerts >= 3,
                timeout_s=90,
                what="warm-up signals from the bootstrap and alerts from live bars",
            )
            stored = await radar.store.list_alerts(detector="confluence", limit=1000)
        finally:
            await radar.stop(timeout_s=15)

    assert stored, "live confluence signals were alerted"
    one_interval_ms = {"1m": 60_000, "5m": 300_000}
    for alert in stored:
        s = alert.signal
        assert s.window_end_ms >= started_ms - one_interval_ms[s.timeframe], (
            f"{s.symbol} {s.timeframe} bar closed at {s.window_end_ms}, before the radar watched it"
        )
