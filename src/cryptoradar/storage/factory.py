"""`build_store`: the alert store the configuration asks for (the app's one construction call)."""

from __future__ import annotations

from pathlib import Path

from cryptoradar.config.storage import StorageBackend, StorageConfig
from cryptoradar.core.clock import Clock
from cryptoradar.storage.postgres import PostgresStore, redact_dsn
from cryptoradar.storage.sqlite import SqliteStore

Store = SqliteStore | PostgresStore
"""Both satisfy `alerts.ports.AlertStore`; the union keeps their concrete types visible to mypy."""


def build_store(config: StorageConfig, clock: Clock) -> Store:
    """An unopened store for `config.backend`; the caller opens and closes it."""
    if config.backend is StorageBackend.POSTGRES:
        return PostgresStore(
            config.postgres_dsn,
            clock=clock,
            pool_min_size=config.postgres_pool_min_size,
            pool_max_size=config.postgres_pool_max_size,
            connect_timeout_s=config.postgres_connect_timeout_s,
            command_timeout_s=config.postgres_command_timeout_s,
        )
    return SqliteStore(Path(config.sqlite_path), clock=clock)


def describe_store(config: StorageConfig) -> str:
    """Where the store lives, safe to print (the DSN's password is redacted)."""
    if config.backend is StorageBackend.POSTGRES:
        return redact_dsn(config.postgres_dsn.get_secret_value())
    return str(config.sqlite_path)
