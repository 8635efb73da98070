"""SQLite specifics: migrations on a raw connection, WAL. The store contract itself runs against every
backend in test_store_contract.py."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from cryptoradar.storage.migrations import MIGRATIONS, apply_migrations, schema_version
from cryptoradar.storage.sqlite import SqliteStore


def test_migrations_are_idempotent(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "m.db", isolation_level=None)
    newest = MIGRATIONS[-1][0]
    assert schema_version(conn) == 0
    assert apply_migrations(conn) == newest
    assert apply_migrations(conn) == newest
    assert conn.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == len(MIGRATIONS)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"alerts", "deliveries", "cooldowns", "silences", "state", "schema_version"} <= tables


async def test_store_file_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "alerts.db"
    s = SqliteStore(path)
    await s.open()
    await s.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
