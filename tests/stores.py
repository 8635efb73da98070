"""Store backends for the tests: the same contract runs against SQLite and a real PostgreSQL server."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from cryptoradar.config.storage import StorageBackend, StorageConfig
from cryptoradar.core.clock import Clock, SystemClock
from cryptoradar.storage.factory import Store, build_store
from pgserver import PostgresServer

BACKENDS = (StorageBackend.SQLITE, StorageBackend.POSTGRES)


class StoreFactory:
    """Builds unopened stores over ONE database (so a test can reopen it, or run two instances on it)."""

    def __init__(self, config: StorageConfig) -> None:
        self.config = config

    @property
    def backend(self) -> StorageBackend:
        return self.config.backend

    def new(self, clock: Clock | None = None) -> Store:
        return build_store(self.config, clock or SystemClock())


def store_factory(backend: StorageBackend, tmp_path: Path, server: PostgresServer | None) -> StoreFactory:
    if backend is StorageBackend.POSTGRES:
        assert server is not None
        dsn = SecretStr(server.create_database())
        return StoreFactory(StorageConfig(backend=backend, postgres_dsn=dsn, postgres_pool_max_size=4))
    return StoreFactory(StorageConfig(backend=backend, sqlite_path=tmp_path / "alerts.db"))
