"""SQLite state of the wallet monitor: last processed block per chain and the seen-log dedup set.

Lives in the same database file as the alert store, in its own tables with its own version row
(`evm_schema_version`), so it can be migrated independently of the alert schema. Satisfies the
`WalletStore` protocol that `sources.evm` defines, without importing it.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

import aiosqlite

SCHEMA_VERSION = 1

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS evm_schema_version (version INTEGER PRIMARY KEY)",
    """CREATE TABLE IF NOT EXISTS evm_cursor (
        chain TEXT PRIMARY KEY,
        last_processed_block INTEGER NOT NULL,
        first_block INTEGER NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS evm_seen_log (
        chain TEXT NOT NULL,
        tx_hash TEXT NOT NULL,
        log_index INTEGER NOT NULL,
        block_number INTEGER NOT NULL,
        PRIMARY KEY (chain, tx_hash, log_index)
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS evm_seen_log_block ON evm_seen_log (chain, block_number)",
)


class SchemaVersionError(RuntimeError):
    """The database was written by a newer cryptoradar."""


class SqliteWalletStore:
    """Open with `await SqliteWalletStore.open(path)` (or `async with`), close with `close()`.

    Every write commits at once (autocommit): a seen log or a cursor survives a crash right after it returns.
    """

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    @classmethod
    async def open(cls, path: Path) -> SqliteWalletStore:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit: every statement is its own transaction, so a task cancelled mid-write never
        # leaves a transaction open that would lock the file for the alert store.
        conn = await aiosqlite.connect(path, isolation_level=None)
        try:
            await conn.execute("PRAGMA journal_mode=WAL")
            await conn.execute("PRAGMA synchronous=NORMAL")
            for statement in _SCHEMA:
                await conn.execute(statement)
            async with conn.execute("SELECT COALESCE(MAX(version), 0) FROM evm_schema_version") as cur:
                row = await cur.fetchone()
            version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise SchemaVersionError(
                    f"evm tables are at version {version}, this build knows {SCHEMA_VERSION}: upgrade cryptoradar"
                )
            if version < SCHEMA_VERSION:
                await conn.execute("INSERT INTO evm_schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
        except BaseException:
            await conn.close()
            raise
        return cls(conn)

    async def __aenter__(self) -> SqliteWalletStore:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._conn.close()

    async def load_cursor(self, chain: str) -> tuple[int, int] | None:
        """(last_processed_block, first_block) or None before the first start on `chain`.

        `first_block` is the cursor the chain was first saved with: nothing below it was ever watched.
        """
        async with self._conn.execute(
            "SELECT last_processed_block, first_block FROM evm_cursor WHERE chain = ?", (chain,)
        ) as cur:
            row = await cur.fetchone()
        return (int(row[0]), int(row[1])) if row else None

    async def save_cursor(self, chain: str, last_processed_block: int) -> None:
        await self._conn.execute(
            "INSERT INTO evm_cursor (chain, last_processed_block, first_block) VALUES (?, ?, ?) "
            "ON CONFLICT (chain) DO UPDATE SET last_processed_block = excluded.last_processed_block",
            (chain, last_processed_block, last_processed_block),
        )

    async def load_seen(self, chain: str, since_block: int) -> set[tuple[str, int]]:
        """(tx_hash, log_index) of every log seen at or above `since_block`."""
        async with self._conn.execute(
            "SELECT tx_hash, log_index FROM evm_seen_log WHERE chain = ? AND block_number >= ?",
            (chain, since_block),
        ) as cur:
            rows = await cur.fetchall()
        return {(str(r[0]), int(r[1])) for r in rows}

    async def mark_seen(self, chain: str, tx_hash: str, log_index: int, block_number: int) -> None:
        await self._conn.execute(
            "INSERT OR IGNORE INTO evm_seen_log (chain, tx_hash, log_index, block_number) VALUES (?, ?, ?, ?)",
            (chain, tx_hash, log_index, block_number),
        )

    async def forget_seen(self, chain: str, tx_hash: str, log_index: int) -> None:
        """A reorg removed the log: its re-inclusion must be reported again."""
        await self._conn.execute(
            "DELETE FROM evm_seen_log WHERE chain = ? AND tx_hash = ? AND log_index = ?",
            (chain, tx_hash, log_index),
        )

    async def prune_seen(self, chain: str, below_block: int) -> int:
        """Drop dedup entries older than `below_block`; returns how many went."""
        cur = await self._conn.execute(
            "DELETE FROM evm_seen_log WHERE chain = ? AND block_number < ?", (chain, below_block)
        )
        return cur.rowcount
