"""Shared test helpers: the real-data folder and `eventually()` instead of sleeps."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from cryptoradar.config.storage import StorageBackend
from pgserver import PostgresServer, start_postgres
from stores import BACKENDS, StoreFactory, store_factory

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_data() -> Path:
    """../shared/data; in CI its absence is a failure, never a skip."""
    if not SHARED_DATA.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"shared data folder {SHARED_DATA} is missing in CI")
        pytest.skip(f"shared data folder {SHARED_DATA} not present")
    return SHARED_DATA


@pytest.fixture
def shared_data_dir() -> Path:
    return shared_data()


async def eventually(
    predicate: Callable[[], bool | Awaitable[bool]], timeout_s: float = 10.0, what: str = "condition"
) -> None:
    """Wait until `predicate()` is true, polling the event loop; fail with `what` after `timeout_s`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        result = predicate()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(0.01)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the whole session (see tests/pgserver.py)."""
    yield from start_postgres()


@pytest.fixture(params=BACKENDS, ids=[b.value for b in BACKENDS])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    """One fresh database per test, once on SQLite and once on PostgreSQL."""
    backend: StorageBackend = request.param
    server = request.getfixturevalue("postgres_server") if backend is StorageBackend.POSTGRES else None
    return store_factory(backend, tmp_path, server)
