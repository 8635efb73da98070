"""The pipeline guard's retry: real SQLite lock errors and asyncpg connection errors are transient and
retried until the store answers (counted per attempt); other errors are raised at once; while stopping,
the retries are bounded."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from cryptoradar.app.guard import PipelineErrors, is_transient, with_store_retry
from cryptoradar.core.metrics import REGISTRY


def retried() -> float:
    labels = {"stage": "admit", "error": "OperationalError", "outcome": "retried"}
    return REGISTRY.get_sample_value("cryptoradar_pipeline_errors_total", labels) or 0.0


@pytest.fixture
def locked_db(tmp_path: Path) -> Iterator[tuple[sqlite3.Connection, sqlite3.Connection]]:
    """(holder, writer): `holder` keeps an exclusive lock; `writer` gives up at once when it is held."""
    path = tmp_path / "store.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x INTEGER)")
    holder.execute("BEGIN EXCLUSIVE")
    writer = sqlite3.connect(path, isolation_level=None, timeout=0)
    yield holder, writer
    writer.close()
    holder.close()


def test_what_counts_as_transient(locked_db: tuple[sqlite3.Connection, sqlite3.Connection]) -> None:
    holder, writer = locked_db
    with pytest.raises(sqlite3.OperationalError) as locked:
        writer.execute("INSERT INTO t VALUES (1)")
    assert is_transient(locked.value)
    with pytest.raises(sqlite3.OperationalError) as missing:
        holder.execute("SELECT * FROM no_such_table")
    assert not is_transient(missing.value)
    assert is_transient(asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"))
    assert is_transient(ConnectionResetError())
    assert not is_transient(asyncpg.exceptions.UniqueViolationError("duplicate key"))
    assert not is_transient(ValueError("bad signal"))


async def test_a_locked_store_is_retried_until_it_answers(
    locked_db: tuple[sqlite3.Connection, sqlite3.Connection],
) -> None:
    holder, writer = locked_db
    attempts = 0
    before = retried()

    async def insert() -> int:
        nonlocal attempts
        attempts += 1
        if attempts == 3:
            holder.execute("COMMIT")  # the other process lets go
        writer.execute("INSERT INTO t VALUES (?)", (attempts,))
        return attempts

    assert await with_store_retry(insert, PipelineErrors(), stopping=lambda: False) == 3
    assert retried() - before == 2
    assert writer.execute("SELECT x FROM t").fetchall() == [(3,)]


async def test_while_stopping_the_retries_are_bounded(
    locked_db: tuple[sqlite3.Connection, sqlite3.Connection],
) -> None:
    _, writer = locked_db
    attempts = 0

    async def insert() -> None:
        nonlocal attempts
        attempts += 1
        writer.execute("INSERT INTO t VALUES (1)")

    with pytest.raises(sqlite3.OperationalError, match="locked"):
        await with_store_retry(insert, PipelineErrors(), stopping=lambda: True)
    assert attempts == 5


async def test_other_errors_are_raised_at_once() -> None:
    attempts = 0

    async def broken() -> None:
        nonlocal attempts
        attempts += 1
        raise KeyError("no such channel")

    with pytest.raises(KeyError):
        await with_store_retry(broken, PipelineErrors(), stopping=lambda: False)
    assert attempts == 1
