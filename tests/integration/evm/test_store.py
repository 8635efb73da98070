"""SqliteWalletStore on a real SQLite file: cursor, dedup set, pruning, schema version check."""

from __future__ import annotations

from pathlib import Path

import aiosqlite
import pytest

from cryptoradar.storage.evm_sqlite import SchemaVersionError, SqliteWalletStore


async def test_cursor_and_seen_logs_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "cryptoradar.db"
    async with await SqliteWalletStore.open(path) as store:
        assert await store.load_cursor("polygon") is None
        await store.save_cursor("polygon", 100)
        await store.save_cursor("polygon", 105)
        await store.mark_seen("polygon", "0xaa", 1, 101)
        await store.mark_seen("polygon", "0xaa", 1, 101)
        await store.mark_seen("polygon", "0xbb", 0, 104)
        await store.mark_seen("base", "0xaa", 1, 101)
        await store.forget_seen("polygon", "0xbb", 0)
    async with await SqliteWalletStore.open(path) as store:
        assert await store.load_cursor("polygon") == (105, 100)
        assert await store.load_seen("polygon", 0) == {("0xaa", 1)}
        assert await store.load_seen("polygon", 102) == set()
        assert await store.prune_seen("polygon", 102) == 1
        assert await store.load_seen("base", 0) == {("0xaa", 1)}


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cryptoradar.db"
    await (await SqliteWalletStore.open(path)).close()
    async with aiosqlite.connect(path) as conn:
        await conn.execute("INSERT INTO evm_schema_version (version) VALUES (99)")
        await conn.commit()
    with pytest.raises(SchemaVersionError, match="upgrade"):
        await SqliteWalletStore.open(path)
