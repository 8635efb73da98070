"""Hit rates in SQLite (aiosqlite), for alert enrichment: "hit rate of similar setups".

One table, `backtest_hit_rates`, keyed by (detector, rule_version, symbol_group, bucket, horizon). Saving a
run replaces every row of the (detector, rule_version) pairs it covers, so a table always holds one
coherent run per rule version and old rule versions stay until a run of theirs replaces them. The app
loads the rows once at start into a `HitRateTable` (synchronous look-ups on the alert path).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import aiosqlite

from cryptoradar.backtest.stats import HitRate

__all__ = ["load_hit_rates", "save_hit_rates"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS backtest_hit_rates (
    detector TEXT NOT NULL,
    rule_version INTEGER NOT NULL,
    symbol_group TEXT NOT NULL,
    bucket TEXT NOT NULL,
    horizon TEXT NOT NULL,
    n INTEGER NOT NULL,
    hits INTEGER NOT NULL,
    misses INTEGER NOT NULL,
    ci_low REAL NOT NULL,
    ci_high REAL NOT NULL,
    mean_return_pct REAL,
    run_id TEXT NOT NULL,
    saved_ms INTEGER NOT NULL,
    PRIMARY KEY (detector, rule_version, symbol_group, bucket, horizon)
)
"""
_COLUMNS = (
    "detector, rule_version, symbol_group, bucket, horizon, n, hits, misses, ci_low, ci_high, mean_return_pct"
)


async def save_hit_rates(db_path: str | Path, rows: Sequence[HitRate], run_id: str, saved_ms: int) -> None:
    """Replace the stored rows of every (detector, rule_version) present in `rows`, in one transaction."""
    async with aiosqlite.connect(db_path) as db:
        await db.execute(_SCHEMA)
        versions = sorted({(r.detector, r.rule_version) for r in rows})
        await db.executemany(
            "DELETE FROM backtest_hit_rates WHERE detector = ? AND rule_version = ?", versions
        )
        await db.executemany(
            f"INSERT INTO backtest_hit_rates ({_COLUMNS}, run_id, saved_ms) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    r.detector, r.rule_version, r.symbol_group, r.bucket, r.horizon, r.n, r.hits,
                    r.misses, r.ci_low, r.ci_high, r.mean_return_pct, run_id, saved_ms,
                )
                for r in rows
            ],
        )  # fmt: skip
        await db.commit()


async def load_hit_rates(db_path: str | Path) -> list[HitRate]:
    """Every stored row; [] when the database or the table does not exist yet."""
    if not await asyncio.to_thread(Path(db_path).exists):
        return []
    async with aiosqlite.connect(db_path) as db:
        await db.execute(_SCHEMA)
        async with db.execute(f"SELECT {_COLUMNS} FROM backtest_hit_rates ORDER BY 1, 2, 3, 4, 5") as cur:
            return [
                HitRate(
                    str(row[0]), int(row[1]), str(row[2]), str(row[3]), str(row[4]), int(row[5]),
                    int(row[6]), int(row[7]), float(row[8]), float(row[9]),
                    None if row[10] is None else float(row[10]),
                )
                async for row in cur
            ]  # fmt: skip
