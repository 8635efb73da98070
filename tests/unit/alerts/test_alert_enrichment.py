"""Hit rate of similar setups: backtest statistics stored by `backtest --stats-db` reach the live radar's
alert context, and their absence (no file, an unreadable file, too few signals) reads "n/a"."""

from __future__ import annotations

from pathlib import Path

from signals import make_signal

from cryptoradar.alerts.enrich import MarketContextEnricher
from cryptoradar.app import Radar, settings_for
from cryptoradar.backtest.stats import ALL, HitRate
from cryptoradar.backtest.stats_store import save_hit_rates
from cryptoradar.config import Settings
from cryptoradar.config.alerts import AlertsConfig, EnrichmentConfig, LogChannel
from cryptoradar.config.api import ApiConfig
from cryptoradar.sim import SimOptions, Simulator

MOMENTUM = make_signal(metrics={"strength": 8.0})
CONFLUENCE = make_signal(detector="confluence", kind="confluence", metrics={"confidence": 4.0})


def hit_rate(detector: str, n: int, hits: int) -> HitRate:
    return HitRate(detector, 1, ALL, ALL, "1h", n, hits, n - hits, 0.51, 0.65, 0.4)


async def radar_context_lines(tmp_path: Path, enrichment: EnrichmentConfig) -> list[list[str]]:
    """Start the radar on a small simulated market; the live enricher's lines for MOMENTUM, CONFLUENCE."""
    options = SimOptions(seed=3, symbols=3, futures_symbols=1, acceleration=60.0, history_bars=60)
    async with Simulator(options) as sim:
        base = Settings(
            alerts=AlertsConfig(
                channels={"file": LogChannel(path=tmp_path / "alerts.jsonl")},
                default_channels=("file",),
                fallback_channels=("file",),
                enrichment=enrichment,
            ),
            api=ApiConfig(enabled=False),
        )
        radar = Radar(settings_for(sim, base, tmp_path), clock=sim.clock)
        await radar.start()
        try:
            return [radar.alerts.enricher.context_lines(s) for s in (MOMENTUM, CONFLUENCE)]
        finally:
            await radar.stop(timeout_s=10)


async def test_the_live_radar_quotes_stored_backtest_hit_rates(tmp_path: Path) -> None:
    stats = tmp_path / "stats.db"
    rows = [hit_rate("momentum", 180, 104), hit_rate("confluence", 5, 4)]
    await save_hit_rates(stats, rows, run_id="r1", saved_ms=0)
    momentum, confluence = await radar_context_lines(
        tmp_path, EnrichmentConfig(hit_rates_db=stats, hit_rate_min_signals=20)
    )
    assert momentum[-1] == "Hit rate of similar setups (1h): 58% [51%-65%] n=180"
    assert confluence[-1] == "Hit rate of similar setups (1h): n/a"  # 5 signals are too few to quote


async def test_without_statistics_the_hit_rate_is_na(tmp_path: Path) -> None:
    unreadable = tmp_path / "not-a-database.db"
    unreadable.write_text("this is not SQLite")
    for enrichment in (
        EnrichmentConfig(),
        EnrichmentConfig(hit_rates_db=tmp_path / "missing.db"),
        EnrichmentConfig(hit_rates_db=unreadable),
    ):
        lines = await radar_context_lines(tmp_path, enrichment)
        assert [ls[-1] for ls in lines] == ["Hit rate of similar setups: n/a"] * 2
    assert not (tmp_path / "missing.db").exists()  # looking for statistics never creates a file


def test_enricher_defaults_to_na_and_takes_a_hit_rate_source() -> None:
    assert MarketContextEnricher().context_lines(MOMENTUM)[-1] == "Hit rate of similar setups: n/a"
    quoted = MarketContextEnricher(hit_rate=lambda s: f"Hit rate of similar setups: {s.detector} 60%")
    assert quoted.context_lines(MOMENTUM)[-1] == "Hit rate of similar setups: momentum 60%"
