"""Bar-close grouping released by the clock: a real `cryptoradar run` against the simulator at real time,
kline streams only, delivers momentum's held bar through the webhook sink before any later frame exists
that could have released it (the old release waited for an event past close + `group_wait_ms`).

The test watches the same kline streams on its own connection; "the first frame stamped at or after
close + wait" is the earliest moment an event-driven release could have happened. The alert must arrive
before the test itself sees that frame: an ordering, not a timing, assertion.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from process_harness import free_port, simulator_process, spawn, webhook_stub, write_yaml
from test_app_lifecycle_process import _config as lifecycle_config

from conftest import eventually
from cryptoradar.config.detectors import MomentumConfig

GROUP_WAIT_MS = MomentumConfig().group_wait_ms
MINUTE_MS = 60_000


def _config(tmp_path: Path, spot_url: str, futures_url: str, hook_url: str) -> dict[str, Any]:
    """The lifecycle test's service config, narrowed to spot 1m klines (no other stream) and with
    momentum's default grouping wait (the route sends at once)."""
    config: dict[str, Any] = lifecycle_config(tmp_path, spot_url, futures_url, hook_url, free_port(), 1e-6)
    config["binance"].update({"spot_intervals": ["1m"], "spot_all_market_streams": []})
    config["universe"] = {"futures": False, "min_avg_hourly_quote_volume": 0}
    config["detectors"]["momentum"]["group_wait_ms"] = GROUP_WAIT_MS
    del config["lifecycle"]
    return config


async def _answers(spot_url: str) -> bool:
    try:
        async with aiohttp.ClientSession() as http, http.get(f"{spot_url}/api/v3/ping") as response:
            return response.status == 200
    except aiohttp.ClientConnectionError:
        return False


async def _watch_klines(spot_url: str, stamps: list[tuple[int, float]]) -> None:
    """Every spot 1m kline frame's exchange stamp `E` with the monotonic time the test received it."""
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{spot_url}/api/v3/exchangeInfo") as response:
            symbols = [s["symbol"].lower() for s in (await response.json())["symbols"]]
        streams = "/".join(f"{s}@kline_1m" for s in symbols)
        async with http.ws_connect(f"{spot_url.replace('http://', 'ws://')}/stream?streams={streams}") as ws:
            async for message in ws:
                stamps.append((int(json.loads(message.data)["data"]["E"]), time.monotonic()))


def _close_ms(alert: dict[str, Any]) -> int:
    """The bar's close: its final kline is stamped just after the close time (a minute's end - 1 ms)."""
    return round((alert["ts_event_ns"] // 1_000_000 + 1) / MINUTE_MS) * MINUTE_MS - 1


def _watched_alert(
    arrivals: list[tuple[float, dict[str, Any]]], stamps: list[tuple[int, float]]
) -> tuple[float, int] | None:
    """(received at, close) of the first momentum alert for a close after the test's watch began."""
    if not stamps:
        return None
    for received_at, alert in arrivals:
        if _close_ms(alert) > stamps[0][0]:  # momentum is the only detector enabled
            return received_at, _close_ms(alert)
    return None


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_held_bar_is_delivered_at_close_plus_wait_without_a_later_event(tmp_path: Path) -> None:
    arrivals: list[tuple[float, dict[str, Any]]] = []

    def record(body: Any) -> list[int]:
        arrivals.extend((time.monotonic(), alert) for alert in body["alerts"])
        return [a["alert_id"] for a in body["alerts"]]

    stamps: list[tuple[int, float]] = []
    async with (
        simulator_process(tmp_path, symbols=20, futures_symbols=2, acceleration=1.0) as (
            spot_url,
            futures_url,
        ),
        webhook_stub(alert_ids=record) as hook,
    ):
        config = write_yaml(tmp_path / "radar.yaml", _config(tmp_path, spot_url, futures_url, hook.url))
        await eventually(lambda: _answers(spot_url), 30, "the simulator's REST port")
        watcher = asyncio.create_task(_watch_klines(spot_url, stamps))
        run = await spawn(["run", "--config", str(config)], tmp_path, "run")
        try:
            await eventually(
                lambda: _watched_alert(arrivals, stamps) is not None or run.proc.returncode is not None,
                200,
                "a momentum alert for a 1m close the test watched",
            )
            found = _watched_alert(arrivals, stamps)
            assert found, f"cryptoradar run exited {run.proc.returncode}: {run.stderr.read_text()[-500:]}"
            received_at, close_ms = found
            later = [seen for stamp, seen in stamps if stamp >= close_ms + GROUP_WAIT_MS]
            assert not later or received_at < min(later), (
                "the alert waited for a frame past close + group_wait (event-driven release)"
            )
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
            await run.kill()
