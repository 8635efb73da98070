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
from prometheus_client.parser import text_string_to_metric_families

from conftest import eventually
from cryptoradar.api.summary import HealthSummary
from cryptoradar.app.service import reload_from
from cryptoradar.compiled import compiled_in_use
from cryptoradar.config import Settings
from cryptoradar.config.alerts import LogChannel
from cryptoradar.config.lifecycle import LifecycleConfig
from cryptoradar.core.errors import ConfigError
from cryptoradar.core.logging import configure_logging
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


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(http: aiohttp.ClientSession, url: str) -> Samples:
    async with http.get(url) as response:
        assert response.status == 200
        text = await response.text()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum of `name` over the samples carrying at least `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


async def test_metrics_of_a_running_radar_count_every_part_of_the_live_path(tmp_path: Path) -> None:
    """/metrics scraped over HTTP from a radar under the simulator's traffic and faults: every family the
    operator dashboard reads moves (the registry is process-wide, so the test compares two scrapes)."""
    async with running_radar(tmp_path, base_settings(tmp_path, min_move_pct=0.0001)) as (sim, radar):
        await radar.feed.wait_bootstrapped()
        # The bootstrap's history bars signal hours after their close: compare live traffic only.
        await eventually(lambda: not len(radar.feed.queue), 30, "the bootstrap bars processed")
        url = f"http://127.0.0.1:{radar.api_port}/metrics"
        async with aiohttp.ClientSession() as http:
            before = await scrape(http, url)
            sim.inject(Fault(FaultKind.MALFORMED_FRAMES, Market.SPOT, count=5))
            sim.inject(Fault(FaultKind.DROP_CONNECTIONS, Market.USDM))
            after: Samples = {}

            def grew(name: str, **labels: str) -> bool:
                return total(after, name, **labels) > total(before, name, **labels)

            async def every_family_moved() -> bool:
                nonlocal after
                after = await scrape(http, url)
                return all(
                    [
                        grew("cryptoradar_frames_total", market="spot", stream_type="kline"),
                        grew("cryptoradar_frames_total", market="usdm", stream_type="aggTrade"),
                        grew("cryptoradar_parse_errors_total", market="spot"),
                        grew("cryptoradar_reconnects_total", source="binance-usdm"),
                        grew("cryptoradar_bars_closed_total", market="spot", interval="1m", via="stream"),
                        grew("cryptoradar_signals_total", detector="momentum"),
                        grew("cryptoradar_alerts_total", channel="file", outcome="sent"),
                        grew("cryptoradar_event_to_signal_seconds_count", detector="momentum"),
                        grew("cryptoradar_bar_close_to_alert_delivered_seconds_count", channel="file"),
                        grew("cryptoradar_event_loop_lag_seconds_count"),
                        total(after, "cryptoradar_connection_state", source="binance-usdm", state="CONNECTED")
                        >= 1,
                    ]
                )

            await eventually(every_family_moved, 60, "every live-path metric to move")
    parse_kinds = {dict(ls)["kind"] for (n, ls) in after if n == "cryptoradar_parse_errors_total"}
    assert len(parse_kinds) >= 2, f"parse errors are counted by kind: {parse_kinds}"
    assert total(after, "cryptoradar_rest_weight_used", market="spot") > 0
    assert ("cryptoradar_queue_depth", frozenset({("queue", "binance")})) in after
    build = {dict(ls)["compiled"] for (n, ls), v in after.items() if n == "cryptoradar_build_info" and v == 1}
    assert build == {str(compiled_in_use()).lower()}, "the build info names what this process runs"
    assert total(after, "cryptoradar_process_resident_memory_bytes") > 0
    for histogram, labels in (
        ("cryptoradar_event_to_signal_seconds", {"detector": "momentum"}),
        ("cryptoradar_bar_close_to_alert_delivered_seconds", {"channel": "file"}),
    ):
        live = {key: v - before.get(key, 0.0) for key, v in after.items()}
        count = total(live, f"{histogram}_count", **labels)
        finite = max(
            v
            for (n, ls), v in live.items()
            if n == f"{histogram}_bucket" and set(labels.items()) <= ls and dict(ls)["le"] != "+Inf"
        )
        assert finite / count >= 0.99, f"{histogram}: p99 of live traffic must fall in a finite bucket"


async def test_log_lines_carry_the_connection_of_their_task(tmp_path: Path) -> None:
    """A JSON log line written inside a connection's task names that connection without the call site
    passing it: the context is bound once per task."""
    log_file = tmp_path / "radar.jsonl"
    configure_logging("INFO", "json", file_path=log_file)
    try:
        async with running_radar(tmp_path, base_settings(tmp_path)) as (sim, radar):
            await radar.feed.wait_bootstrapped()
            usdm = {c.connection_id for m in radar.feed_state().markets if m.market is Market.USDM
                    for c in m.connections}  # fmt: skip
            sim.inject(Fault(FaultKind.DROP_CONNECTIONS, Market.USDM))

            def lost() -> list[dict[str, object]]:
                records = [json.loads(line) for line in log_file.read_text().splitlines()]
                return [r for r in records if r["event"] == "connection_lost"]

            await eventually(lambda: bool(lost()), 30, "a connection_lost line in the log file")
    finally:
        configure_logging("INFO", "json")
    assert {r["connection_id"] for r in lost()} <= usdm
    assert all(r["connection_id"] == r["connection"] for r in lost())
