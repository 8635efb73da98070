"""Hit rates survive a round trip through SQLite; a new run replaces its rule version's rows only."""

from __future__ import annotations

from pathlib import Path

from cryptoradar.backtest.stats import HitRate
from cryptoradar.backtest.stats_store import load_hit_rates, save_hit_rates


def row(detector: str, version: int, horizon: str, n: int, mean: float | None = 0.1) -> HitRate:
    return HitRate(detector, version, "*", "*", horizon, n, n // 2, n // 4, 0.3, 0.7, mean)


async def test_round_trip_and_replace_per_rule_version(tmp_path: Path) -> None:
    db = tmp_path / "stats.sqlite"
    assert await load_hit_rates(db) == []
    first = [
        row("confluence", 1, "1h", 40),
        row("confluence", 1, "exit", 40, None),
        row("momentum", 1, "1h", 8),
    ]
    await save_hit_rates(db, first, "run-1", 1_000)
    assert await load_hit_rates(db) == sorted(first, key=lambda r: (r.detector, r.rule_version, r.horizon))
    await save_hit_rates(db, [row("confluence", 1, "4h", 50)], "run-2", 2_000)
    got = await load_hit_rates(db)
    assert [(r.detector, r.horizon, r.n) for r in got] == [("confluence", "4h", 50), ("momentum", "1h", 8)]
