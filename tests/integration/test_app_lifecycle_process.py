"""A real `cryptoradar run` process against a simulator process: SIGHUP reloads a threshold without
reconnecting; SIGTERM under traffic exits 0 within the deadline; the restart gap-fills from saved state.

Across both runs the closed bars the service processed (its bar journal) must equal the simulator's
klines for that period, per series, contiguous and none twice; every stored alert reaches the webhook.
"""

from __future__ import annotations

import json
import signal
import sqlite3
from collections import defaultdict
from pathlib import Path

import aiohttp
import pytest
from process_harness import free_port, simulator_process, spawn, webhook_stub, write_yaml

from conftest import eventually

IMPOSSIBLE_MOVE_PCT = 1e6
DEADLINE_S = 15.0
MINUTE_MS = 60_000


def _config(
    tmp_path: Path, spot_url: str, futures_url: str, hook_url: str, api_port: int, move_pct: float
) -> dict[str, object]:
    ws = lambda url: url.replace("http://", "ws://")  # noqa: E731
    return {
        "log": {"level": "INFO", "format": "json"},
        "binance": {
            "spot": {"rest_url": spot_url, "ws_url": ws(spot_url), "weight_budget_per_min": 4800,
                     "streams_per_connection": 1024, "control_messages_per_s": 3},
            "futures": {"rest_url": futures_url, "ws_url": ws(futures_url), "weight_budget_per_min": 1800,
                        "streams_per_connection": 200, "control_messages_per_s": 5},
            "spot_intervals": ["1m", "5m"],
            "bootstrap_bars": 30,
        },
        "storage": {"sqlite_path": str(tmp_path / "radar.db")},
        "api": {"port": api_port},
        "alerts": {
            "channels": {"hook": {"type": "webhook", "url": hook_url, "secret": "test-secret", "rate_limits": []}},
            "default_channels": ["hook"],
            "fallback_channels": ["hook"],
            "group_wait_s": 0,
            "cooldowns": {},
            "retry_initial_s": 0.1,
            "retry_max_s": 0.5,
        },
        "detectors": {
            "radar": {"enabled": False},
            "confluence": {"enabled": False},
            "momentum": {
                "timeframe": "1m", "lookback_bars": 2, "min_move_pct": move_pct, "volume_z_period": 2,
                "min_volume_z": -1e9, "min_quote_volume": 0, "atr_period": 1, "trend_timeframes": [],
                "cooldown_s": 0, "group_wait_ms": 0,
            },
        },
        "lifecycle": {
            "shutdown_deadline_s": DEADLINE_S,
            "state_save_interval_s": 1.0,
            "bar_journal_path": str(tmp_path / "bars.jsonl"),
        },
    }  # fmt: skip


def _journal(path: Path, skip: int = 0) -> list[dict[str, object]]:
    """The bar journal's complete lines after the first `skip` (the service may be mid-write)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_bytes().split(b"\n")[skip:-1]]


def _journal_lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


async def _exchange_ms(http: aiohttp.ClientSession, spot_url: str) -> int:
    async with http.get(f"{spot_url}/api/v3/time") as response:
        return int((await response.json())["serverTime"])


async def _connection_ids(http: aiohttp.ClientSession, api_port: int) -> set[str]:
    """Ids of the upstream connections, once every one is CONNECTED (empty before that)."""
    async with http.get(f"http://127.0.0.1:{api_port}/api/connections") as response:
        body = await response.json()
    if not body or any(c["state"] != "CONNECTED" for c in body):
        return set()
    return {c["connection_id"] for c in body}


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_sighup_reload_then_sigterm_and_restart_lose_no_bar_and_no_alert(tmp_path: Path) -> None:
    journal_path = tmp_path / "bars.jsonl"
    async with simulator_process(tmp_path) as (spot_url, futures_url), webhook_stub() as hook:
        api_port = free_port()
        config = tmp_path / "radar.yaml"
        write_yaml(config, _config(tmp_path, spot_url, futures_url, hook.url, api_port, IMPOSSIBLE_MOVE_PCT))
        async with aiohttp.ClientSession() as http:

            async def simulator_up() -> bool:
                try:
                    return await _exchange_ms(http, spot_url) > 0
                except aiohttp.ClientError:
                    return False

            await eventually(simulator_up, 30, "the simulator process serving REST")
            # --- run 1: reload by SIGHUP, then SIGTERM while alerts flow ---------------------------------
            run1 = await spawn(["run", "--config", str(config)], tmp_path, "run1")
            try:
                await eventually(
                    lambda: _journal_lines(journal_path) > 40 * 2 * 30 + 1_500,
                    60,
                    "run 1 processing live bars",
                )
                assert hook.alert_ids == [], (
                    "the impossible threshold alerts nothing (and the feed had no outage)"
                )
                ids_before: set[str] = set()

                async def both_markets_connected() -> bool:
                    nonlocal ids_before
                    ids_before = await _connection_ids(http, api_port)
                    return {i.split("-")[0] for i in ids_before} == {"spot", "usdm"}

                await eventually(both_markets_connected, 30, "spot and USD-M connections up")
                write_yaml(config, _config(tmp_path, spot_url, futures_url, hook.url, api_port, 0.0001))
                run1.send(signal.SIGHUP)
                await eventually(lambda: len(hook.alert_ids) >= 5, 30, "alerts after the SIGHUP reload")
                assert await _connection_ids(http, api_port) == ids_before, "reload kept every connection"

                run1.send(signal.SIGTERM)
                assert await run1.wait(DEADLINE_S + 5) == 0
            finally:
                await run1.kill()
            stopped_at_ms = await _exchange_ms(http, spot_url)
            seen_in_run1 = _journal_lines(journal_path)

            async def exchange_moved_on() -> bool:
                return await _exchange_ms(http, spot_url) > stopped_at_ms + 4 * MINUTE_MS

            await eventually(exchange_moved_on, 30, "bars closing while the service is down")

            # --- run 2: gap fill from the saved state, then live ------------------------------------------
            run2 = await spawn(["run", "--config", str(config)], tmp_path, "run2")
            try:
                restarted_at_ms = await _exchange_ms(http, spot_url)

                def live_after_restart() -> bool:
                    late = {(b["symbol"], b["interval"]) for b in _journal(journal_path, skip=seen_in_run1)
                            if int(b["open_ms"]) > restarted_at_ms + MINUTE_MS}  # fmt: skip
                    return len(late) >= 40

                await eventually(live_after_restart, 60, "run 2 processing live bars after the gap")
                run2.send(signal.SIGTERM)
                assert await run2.wait(DEADLINE_S + 5) == 0
            finally:
                await run2.kill()

            # --- ground truth ---------------------------------------------------------------------------
            series: dict[tuple[str, str], list[tuple[int, float]]] = defaultdict(list)
            for bar in _journal(journal_path):
                assert bar["market"] == "spot"
                series[(str(bar["symbol"]), str(bar["interval"]))].append(
                    (int(bar["open_ms"]), float(bar["close"]))
                )
            assert len(series) >= 40 * 2
            for (symbol, interval), bars in series.items():
                opens = [t for t, _ in bars]
                assert len(opens) == len(set(opens)), f"{symbol}@{interval}: a bar was processed twice"
                assert opens == sorted(opens), f"{symbol}@{interval}: bars out of order"
                params = {"symbol": symbol, "interval": interval, "startTime": str(opens[0]),
                          "endTime": str(opens[-1]), "limit": "1000"}  # fmt: skip
                async with http.get(f"{spot_url}/api/v3/klines", params=params) as response:
                    truth = [(int(r[0]), float(r[4])) for r in await response.json()]
                assert bars == truth, f"{symbol}@{interval}: processed bars differ from the exchange's"

    assert any(t > stopped_at_ms for bars in series.values() for t, _ in bars)
    db = sqlite3.connect(tmp_path / "radar.db")
    stored = {r[0] for r in db.execute("SELECT id FROM alerts")}
    states = {r[0] for r in db.execute("SELECT state FROM deliveries")}
    assert stored, "the reloaded threshold produced alerts"
    assert states == {"sent"}, f"deliveries left {states}"
    assert set(hook.alert_ids) == stored, "every stored alert reached the webhook"
