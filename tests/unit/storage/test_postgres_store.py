"""PostgreSQL specifics against a real server: versioned migrations (same numbers as SQLite), instances
migrating at once, the factory, and a DSN password that never appears in errors or reprs."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from pydantic import SecretStr, ValidationError

from cryptoradar.config.storage import StorageBackend, StorageConfig
from cryptoradar.core.clock import SystemClock
from cryptoradar.core.errors import RetryableError
from cryptoradar.storage import migrations as sqlite_migrations
from cryptoradar.storage.factory import build_store, describe_store
from cryptoradar.storage.pg_migrations import MIGRATIONS, apply_migrations, schema_version
from cryptoradar.storage.postgres import PostgresStore, redact_dsn
from cryptoradar.storage.sqlite import SqliteStore
from pgserver import PostgresServer


def test_versions_match_sqlite() -> None:
    assert [v for v, _ in MIGRATIONS] == [v for v, _ in sqlite_migrations.MIGRATIONS]


async def test_migrations_are_idempotent_and_complete(postgres_server: PostgresServer) -> None:
    conn = await asyncpg.connect(postgres_server.create_database())
    try:
        newest = MIGRATIONS[-1][0]
        assert await schema_version(conn) == 0
        assert await apply_migrations(conn) == newest
        assert await apply_migrations(conn) == newest
        assert await conn.fetchval("SELECT COUNT(*) FROM schema_version") == len(MIGRATIONS)
        tables = {
            r[0] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        }
        assert tables == {"alerts", "deliveries", "cooldowns", "silences", "state", "schema_version"}
    finally:
        await conn.close()


async def test_instances_starting_together_migrate_once(postgres_server: PostgresServer) -> None:
    dsn = SecretStr(postgres_server.create_database())
    stores = [PostgresStore(dsn, pool_max_size=2) for _ in range(4)]
    await asyncio.gather(*(s.open() for s in stores))
    try:
        await stores[0].set_state("k", "v")
        assert [await s.get_state("k") for s in stores] == ["v"] * 4
    finally:
        await asyncio.gather(*(s.close() for s in stores))
    conn = await asyncpg.connect(dsn.get_secret_value())
    try:
        assert await conn.fetchval("SELECT COUNT(*) FROM schema_version") == len(MIGRATIONS)
    finally:
        await conn.close()


async def test_wrong_password_is_retryable_and_redacted(postgres_server: PostgresServer) -> None:
    wrong = "canary-wrong-pw-31f9"
    store = PostgresStore(SecretStr(postgres_server.dsn(password=wrong)), connect_timeout_s=5)
    assert wrong not in repr(store)
    with pytest.raises(RetryableError) as info:
        await store.open()
    assert wrong not in str(info.value)
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__
    assert "127.0.0.1" in str(info.value)


async def test_unreachable_server_is_retryable(postgres_server: PostgresServer) -> None:
    secret = "canary-pw-unreachable"
    store = PostgresStore(SecretStr(f"postgresql://radar:{secret}@127.0.0.1:1/x"), connect_timeout_s=2)
    with pytest.raises(RetryableError) as info:
        await store.open()
    assert secret not in str(info.value)


def test_redact_dsn() -> None:
    assert redact_dsn("postgresql://radar:pw@db:5432/radar") == "postgresql://radar:***@db:5432/radar"
    assert redact_dsn("postgresql://db/radar") == "postgresql://db/radar"


def test_config_requires_a_dsn_and_never_echoes_it() -> None:
    with pytest.raises(ValidationError, match="postgres_dsn"):
        StorageConfig(backend=StorageBackend.POSTGRES)
    dsn = "postgresql://radar:canary-config-pw@db/radar"
    config = StorageConfig(backend=StorageBackend.POSTGRES, postgres_dsn=SecretStr(dsn))
    assert "canary-config-pw" not in repr(config)
    assert "canary-config-pw" not in describe_store(config)
    with pytest.raises(ValidationError) as info:
        StorageConfig(
            backend=StorageBackend.POSTGRES,
            postgres_dsn=SecretStr(dsn),
            postgres_pool_min_size=5,
            postgres_pool_max_size=2,
        )
    assert "canary-config-pw" not in str(info.value)


def test_factory_builds_the_configured_backend() -> None:
    clock = SystemClock()
    assert isinstance(build_store(StorageConfig(), clock), SqliteStore)
    config = StorageConfig(backend=StorageBackend.POSTGRES, postgres_dsn=SecretStr("postgresql://h/db"))
    assert isinstance(build_store(config, clock), PostgresStore)
