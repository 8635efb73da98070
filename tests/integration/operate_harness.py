"""A Radar running against an in-process simulator, configured small and fast for lifecycle tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from cryptoradar.api.summary import HealthSummary
from cryptoradar.app import Radar, settings_for
from cryptoradar.config import Settings
from cryptoradar.config.alerts import AlertsConfig, LogChannel
from cryptoradar.config.api import ApiConfig
from cryptoradar.config.detectors import DetectorsConfig, MomentumConfig
from cryptoradar.core.metrics import RECONNECTS
from cryptoradar.sim import SimOptions, Simulator

IMPOSSIBLE_MOVE_PCT = 1e6


def momentum(min_move_pct: float) -> MomentumConfig:
    """Momentum on 1m bars with every gate open except the move threshold under test."""
    return MomentumConfig(
        timeframe="1m",
        lookback_bars=2,
        min_move_pct=min_move_pct,
        volume_z_period=2,
        min_volume_z=-1e9,
        min_quote_volume=0.0,
        atr_period=1,
        trend_timeframes=(),
        cooldown_s=0.0,
        group_wait_ms=0,
    )


def base_settings(tmp_path: Path, *, min_move_pct: float = IMPOSSIBLE_MOVE_PCT) -> Settings:
    alerts_file = tmp_path / "alerts.jsonl"
    settings = Settings(
        alerts=AlertsConfig(
            channels={"file": LogChannel(path=alerts_file)},
            default_channels=("file",),
            fallback_channels=("file",),
            group_wait_s=0.0,
            cooldowns={},
        ),
        api=ApiConfig(port=0),
        detectors=DetectorsConfig(momentum=momentum(min_move_pct)),
    )
    fast_feed = {
        "spot_intervals": ("1m", "5m"),
        "bootstrap_bars": 60,
        # At 60x exchange time, the feed's timings shrink with it (as in the Binance integration tests).
        "stale_after_s": 1.5,
        "reconnect_initial_s": 0.1,
        "reconnect_max_s": 1.0,
        "close_grace_ms": 6_000,
        "refetch_after_s": 0.3,
        "bar_check_s": 0.05,
    }
    return settings.model_copy(update={"binance": settings.binance.model_copy(update=fast_feed)})


def reconnects_total() -> float:
    return sum(s.value for m in RECONNECTS.collect() for s in m.samples if s.name.endswith("_total"))


def connection_ids(radar: Radar) -> set[str]:
    return {c.connection_id for m in radar.feed_state().markets for c in m.connections}


@asynccontextmanager
async def running_radar(
    tmp_path: Path,
    settings: Settings,
    *,
    options: SimOptions | None = None,
    on_health_summary: Callable[[HealthSummary], None] | None = None,
) -> AsyncIterator[tuple[Simulator, Radar]]:
    options = options or SimOptions(
        seed=5, symbols=12, futures_symbols=4, acceleration=60.0, history_bars=120
    )
    async with Simulator(options) as sim:
        pointed = settings_for(sim, settings, tmp_path)
        radar = Radar(pointed, clock=sim.clock, on_health_summary=on_health_summary)
        await radar.start()
        try:
            yield sim, radar
        finally:
            await radar.stop(timeout_s=15)
