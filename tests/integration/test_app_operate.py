"""Operating a running Radar against the simulator over real sockets: hot reload without reconnecting,
the periodic health summary, and readiness going red on a stalled stream and green after the gap fill."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import structlog
from operate_harness import (
    base_settings,
    connection_ids,
    momentum,
    reconnects_total,
    running_radar,
)

from conftest import eventually
from cryptoradar.api.summary import HealthSummary
from cryptoradar.app.service import reload_from
from cryptoradar.config import Settings
from cryptoradar.config.alerts import LogChannel
from cryptoradar.config.lifecycle import LifecycleConfig
from cryptoradar.core.errors import ConfigError
from cryptoradar.events import Market
from cryptoradar.sim import Fault, FaultKind


async def test_threshold_reload_applies_to_the_next_bars_without_reconnecting(tmp_path: Path) -> None:
    async with running_radar(tmp_path, base_settings(tmp_path)) as (_, radar):
        await radar.feed.wait_bootstrapped()
        closed_before = radar.stats.bars_closed
        await eventually(lambda: radar.stats.bars_closed > closed_before + 40, 60, "live closed bars")
        assert radar.stats.signals["momentum"] == 0, "the impossible threshold lets nothing through"
        ids, reconnects = connection_ids(radar), reconnects_total()
        assert ids

        current = radar.settings
        easier = current.detectors.model_copy(update={"momentum": momentum(0.0001)})
        plan = await radar.reload(current.model_copy(update={"detectors": easier}))
        assert plan.accepted
        assert plan.applied == ["detectors.momentum.min_move_pct"]
        reloaded_at = radar.stats.bars_closed

        await eventually(lambda: radar.stats.signals["momentum"] > 0, 30, "momentum signals after reload")
        assert radar.stats.bars_closed - reloaded_at <= 60, "the first live bars after the reload signal"
        assert connection_ids(radar) == ids
        assert reconnects_total() == reconnects


async def test_reload_refuses_restart_only_keys_and_changes_nothing(tmp_path: Path) -> None:
    async with running_radar(tmp_path, base_settings(tmp_path)) as (_, radar):
        await radar.feed.wait_bootstrapped()
        current = radar.settings
        changed = current.model_copy(
            update={
                "api": current.api.model_copy(update={"port": 1}),
                "detectors": current.detectors.model_copy(update={"momentum": momentum(0.0001)}),
            }
        )
        with structlog.testing.capture_logs() as logs:
            plan = await radar.reload(changed)
        assert not plan.accepted
        assert plan.needs_restart == ["api.port"]
        refused = [e for e in logs if e["event"] == "reload_refused"]
        assert refused
        assert refused[0]["needs_restart"] == ["api.port"]
        assert radar.settings is current, "a refused reload applies nothing"

        def broken_file() -> Settings:
            raise ConfigError("radar.yaml: detectors.momentum.min_move_pct: must be > 0")

        with structlog.testing.capture_logs() as logs:
            await reload_from(radar, broken_file)
        assert [e["event"] for e in logs if e["event"].startswith("reload")] == ["reload_failed"]
        assert radar.settings is current, "an unreadable config changes nothing"


async def test_health_summary_is_logged_every_interval(tmp_path: Path) -> None:
    summaries: list[HealthSummary] = []
    settings = base_settings(tmp_path)
    settings = settings.model_copy(update={"lifecycle": LifecycleConfig(health_summary_interval_s=0.3)})
    with structlog.testing.capture_logs() as logs:
        async with running_radar(tmp_path, settings, on_health_summary=summaries.append) as (
            _,
            radar,
        ):
            await radar.feed.wait_bootstrapped()
            await eventually(
                lambda: len(summaries) >= 2 and summaries[-1].connections.get("CONNECTED", 0) >= 2,
                20,
                "two health summaries with connections up",
            )
    last = summaries[-1]
    assert last.last_data_age_s is not None
    assert last.last_data_age_s < 5
    assert last.uptime_s >= 0
    assert set(last.delivery_success) >= {"file"} or not radar.stats.alerts
    events = [e for e in logs if e["event"] == "health_summary"]
    assert len(events) >= 2
    assert {
        "uptime_s",
        "signals",
        "last_data_age_s",
        "connections",
        "errors_last_hour",
        "delivery_success",
    } <= set(events[-1])


async def test_readiness_turns_red_on_a_stalled_stream_and_green_after_gap_fill(tmp_path: Path) -> None:
    settings = base_settings(tmp_path)
    # A bar missing from the stream is fetched from REST only 150 s (exchange) after its close, so a
    # stalled stream is visibly stale (> 2 intervals) before the gap fill repairs it.
    settings = settings.model_copy(
        update={"binance": settings.binance.model_copy(update={"close_grace_ms": 150_000})}
    )
    async with running_radar(tmp_path, settings) as (sim, radar):
        await radar.feed.wait_bootstrapped()
        spot = radar.feed.market(Market.SPOT)
        symbol = min(spot.symbols)
        series = f"spot:{symbol}@1m"
        url = f"http://127.0.0.1:{radar.api_port}/readyz"
        async with aiohttp.ClientSession() as http:
            last: dict[str, object] = {}

            async def ready() -> bool:
                async with http.get(url) as response:
                    last.clear()
                    last.update(await response.json())
                    return response.status == 200

            async def red_naming_the_series() -> bool:
                if await ready():
                    return False
                checks = {c["name"]: c for c in last["checks"]}  # type: ignore[attr-defined]
                return checks["freshness"]["ok"] is False and series in checks["freshness"]["detail"]

            await eventually(ready, 30, "ready before the stall")
            fills_before = spot.filler.fetches
            sim.inject(
                Fault(FaultKind.STALL, Market.SPOT, stream=f"{symbol.lower()}@kline_1m", duration_wall_s=4.0)
            )
            await eventually(red_naming_the_series, 30, f"readiness red naming {series}")
            assert last["ready"] is False
            await eventually(ready, 60, "readiness green after the gap fill")
            assert spot.filler.fetches > fills_before, "the gap was filled from REST"


async def test_alert_routing_reload_sends_the_next_alerts_to_the_new_channel(tmp_path: Path) -> None:
    settings = base_settings(tmp_path, min_move_pct=0.0001)
    first, second = tmp_path / "alerts.jsonl", tmp_path / "second.jsonl"
    async with running_radar(tmp_path, settings) as (_, radar):
        await eventually(lambda: first.exists() and first.stat().st_size > 0, 60, "alerts in the first file")
        ids = connection_ids(radar)
        alerts = radar.settings.alerts
        channels = {**alerts.channels, "second": LogChannel(path=second)}
        rerouted = alerts.model_copy(update={"channels": channels, "default_channels": ("second",)})
        plan = await radar.reload(radar.settings.model_copy(update={"alerts": rerouted}))
        assert plan.accepted
        assert plan.sections() == {"alerts"}
        sent_before = radar.stats.alerts
        await eventually(
            lambda: second.exists() and second.stat().st_size > 0, 60, "alerts in the new channel"
        )
        assert radar.stats.alerts > sent_before
        assert connection_ids(radar) == ids
    first_ids = {json.loads(line)["alert_id"] for line in first.read_text().splitlines()}
    second_ids = {json.loads(line)["alert_id"] for line in second.read_text().splitlines()}
    assert first_ids
    assert second_ids
    assert not first_ids & second_ids, "each alert went to the channel its route named at the time"
