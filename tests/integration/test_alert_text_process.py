"""Alert text end to end: `cryptoradar run` in a child process against the simulator, a webhook channel on
loopback. The momentum alerts that arrive are in the original format (seed 000), with numbers for humans,
no enrichment line without a value, each value once in the body, and each alert exactly once."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from process_harness import free_port, simulator_process, spawn, webhook_stub, write_yaml
from test_app_lifecycle_process import _config as lifecycle_config

from conftest import eventually

ALERTS_WANTED = 3
TITLE = re.compile(r"^(🚀|🔻) MOMENTUM ALERT: [A-Z0-9]+ 1m$")
STRENGTH = re.compile(r"^📊 Signal Strength: \d+\.\d/10$")
MOVE = re.compile(r"^📈 Price Move: [+-]\d+\.\d\d% \(-?\d+\.\d ATR normalised\)$")
PRICE = re.compile(r"^💵 Price: -?[\d,]+\.\d{2,8}$")
SCIENTIFIC = re.compile(r"\d[eE][+-]?\d")


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_run_delivers_momentum_alerts_in_the_original_format_once(tmp_path: Path) -> None:
    alerts: list[dict[str, Any]] = []

    def record(body: Any) -> list[int]:
        alerts.extend(body["alerts"])
        return [a["alert_id"] for a in body["alerts"]]

    async with (
        simulator_process(tmp_path, symbols=20, futures_symbols=2) as (spot_url, futures_url),
        webhook_stub(alert_ids=record) as hook,
    ):
        # The lifecycle test's service: momentum alone, every 1m move above a tiny threshold alerts.
        config = lifecycle_config(tmp_path, spot_url, futures_url, hook.url, free_port(), 1e-6)
        run = await spawn(
            ["run", "--config", str(write_yaml(tmp_path / "radar.yaml", config))], tmp_path, "run"
        )
        try:
            await eventually(
                lambda: len(hook.alert_ids) >= ALERTS_WANTED or run.proc.returncode is not None,
                180,
                f"{ALERTS_WANTED} momentum alerts at the webhook",
            )
        finally:
            await run.kill()
    assert len(alerts) >= ALERTS_WANTED, f"run exited {run.proc.returncode}: {run.stderr.read_text()[-500:]}"
    assert set(Counter(a["alert_id"] for a in alerts).values()) == {1}, "every alert arrives exactly once"
    for alert in alerts:
        lines = alert["body"].splitlines()
        assert TITLE.match(alert["title"]), alert["title"]
        assert sum(bool(STRENGTH.match(line)) for line in lines) == 1, alert["body"]
        assert sum(bool(MOVE.match(line)) for line in lines) == 1, alert["body"]
        assert sum(bool(PRICE.match(line)) for line in lines) == 1, alert["body"]
        assert "n/a" not in alert["body"]
        assert not SCIENTIFIC.search(alert["body"]), alert["body"]
        shown = [line for line in lines if line.strip()]
        assert len(shown) == len(set(shown)), f"a line repeated: {alert['body']}"
