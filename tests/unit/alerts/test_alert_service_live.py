"""A running AlertService reacting to the world: silences made elsewhere, feed outages, an unwritable
store. Real stores (SQLite file, PostgreSQL server), in-test sinks on the fallback channel."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager

import asyncpg
import pytest
from signals import S, make_signal
from sinks import RecordingSink

from conftest import eventually
from cryptoradar.alerts.service import AlertService
from cryptoradar.config.alerts import AlertsConfig
from cryptoradar.config.storage import StorageBackend
from cryptoradar.core.clock import SystemClock
from cryptoradar.events import ConnectionState, FeedStatus, StatusLevel
from cryptoradar.storage.factory import Store
from cryptoradar.storage.sqlite import SqliteStore
from stores import StoreFactory


def config(**extra: object) -> AlertsConfig:
    data: dict[str, object] = {
        "channels": {"a": {"type": "console"}, "log": {"type": "log"}},
        "default_channels": ["a"],
        "fallback_channels": ["log"],
        "group_wait_s": 0,
        "cooldowns": {},
        "silence_refresh_s": 0.05,
        "operator": {
            "connections_down_after_s": 0.3,
            "poll_interval_s": 0.05,
            "store_failures_before_alert": 2,
        },
        "retry_initial_s": 0.01,
        "retry_max_s": 0.05,
    }
    data.update(extra)
    return AlertsConfig.model_validate(data)


@asynccontextmanager
async def running(store: Store, cfg: AlertsConfig, **sinks: RecordingSink) -> AsyncIterator[AlertService]:
    await store.open()
    service = AlertService(cfg, store, sinks, SystemClock())
    await service.start()
    try:
        yield service
    finally:
        await service.stop(0.5)
        await store.close()


async def _not(result: Awaitable[bool]) -> bool:
    return not await result


def titles(sink: RecordingSink) -> list[str]:
    return [a.title for n in sink.requests for a in n.alerts]


async def _accepts(service: AlertService, symbol: str) -> bool:
    """Whether a fresh alert for `symbol` is stored now (False while the store still fails)."""
    try:
        return await service.submit(make_signal(symbol=symbol, at_ns=SystemClock().now_ns())) is not None
    except Exception:
        return False  # PostgreSQL: the first query on a dropped session fails once


async def test_silence_made_by_another_instance_applies_without_restart(stores: StoreFactory) -> None:
    clock = SystemClock()
    async with running(stores.new(), config(), a=RecordingSink("a")) as service:
        cli_store = stores.new()  # what `cryptoradar alerts silence` does: write to the store, nothing else
        await cli_store.open()
        try:
            until_ns = clock.now_ns() + 3600 * S
            silence_id = await cli_store.add_silence(
                ['kind="muted"'], until_ns=until_ns, created_by="cli", reason="", created_at_ns=0
            )
            n = 0

            async def submitted() -> bool:
                nonlocal n
                n += 1  # a new symbol each time, so neither dedup nor a cooldown can answer for the silence
                signal = make_signal(kind="muted", symbol=f"M{n}", at_ns=clock.now_ns())
                return await service.submit(signal) is not None

            await eventually(
                lambda: _not(submitted()), timeout_s=5, what="the running service to pick up the silence"
            )
            assert [s.id for s in await service.list_silences()] == [silence_id]
            assert await cli_store.remove_silence(silence_id)
            await eventually(submitted, timeout_s=5, what="the running service to drop the silence")
        finally:
            await cli_store.close()


async def test_all_connections_down_alerts_once_then_resolves(stores: StoreFactory) -> None:
    clock, log = SystemClock(), RecordingSink("log")

    def feed(connection: str, state: ConnectionState) -> FeedStatus:
        now = clock.now_ns()
        return FeedStatus("binance-spot", connection, state, StatusLevel.WARNING, "test", now, now)

    async with running(stores.new(), config(), a=RecordingSink("a"), log=log) as service:
        service.on_feed_status(feed("c0", ConnectionState.CONNECTED))
        service.on_feed_status(feed("c0", ConnectionState.RECONNECTING))
        await eventually(lambda: len(log.requests) == 1, what="connections-down notice")
        assert titles(log)[0].startswith("⚠️ Operator: binance-spot: all connections down for")
        service.on_feed_status(feed("c0", ConnectionState.CONNECTED))
        await eventually(lambda: len(log.requests) == 2, what="resolved notice")
        assert titles(log)[1] == "✅ Resolved: binance-spot: connected again"


class Jam:
    """Makes a real store unwritable and writable again: SQLite by a second connection holding the
    write lock, PostgreSQL by switching the database to read-only and dropping its sessions."""

    def __init__(self, stores: StoreFactory) -> None:
        self.stores = stores
        self._lock: sqlite3.Connection | None = None

    def store(self) -> Store:
        if self.stores.backend is StorageBackend.SQLITE:
            return SqliteStore(self.stores.config.sqlite_path, busy_timeout_ms=50)
        return self.stores.new()

    async def _pg(self, read_only: bool) -> None:
        dsn = self.stores.config.postgres_dsn.get_secret_value()
        conn = await asyncpg.connect(dsn, server_settings={"default_transaction_read_only": "off"})
        try:
            name = await conn.fetchval("SELECT current_database()")
            setting = (
                "SET default_transaction_read_only = on"
                if read_only
                else "RESET default_transaction_read_only"
            )
            await conn.execute(f'ALTER DATABASE "{name}" {setting}')
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            await conn.close()

    async def jam(self) -> None:
        if self.stores.backend is StorageBackend.SQLITE:
            self._lock = sqlite3.connect(self.stores.config.sqlite_path, isolation_level=None)
            self._lock.execute("BEGIN EXCLUSIVE")
        else:
            await self._pg(read_only=True)

    async def unjam(self) -> None:
        if self._lock is not None:
            self._lock.execute("ROLLBACK")
            self._lock.close()
            self._lock = None
        else:
            await self._pg(read_only=False)


async def test_unwritable_store_alerts_operator_once_and_resolves(stores: StoreFactory) -> None:
    clock, log, jam = SystemClock(), RecordingSink("log"), Jam(stores)
    async with running(jam.store(), config(), a=RecordingSink("a"), log=log) as service:
        await jam.jam()
        for i in range(4):
            with pytest.raises(Exception):  # noqa: B017, PT011 - each backend raises its own driver error
                await service.submit(make_signal(symbol=f"J{i}", at_ns=clock.now_ns()))
        await eventually(lambda: len(log.requests) == 1, what="store-unwritable notice")
        assert titles(log) == ["⚠️ Operator: alert store unwritable"]
        await jam.unjam()

        await eventually(lambda: _accepts(service, "OK"), what="writes to succeed again")
        await eventually(lambda: len(log.requests) == 2, what="resolved notice")
        assert titles(log)[1] == "✅ Resolved: alert store writable again"


async def test_delivery_survives_a_store_that_cannot_record_it(stores: StoreFactory) -> None:
    clock, a, jam = SystemClock(), RecordingSink("a"), Jam(stores)
    async with running(jam.store(), config(group_wait_s=0.3), a=a, log=RecordingSink("log")) as service:
        first = await service.submit(make_signal(symbol="R1", at_ns=clock.now_ns()))
        await jam.jam()  # before the group wait ends: the send succeeds, recording it fails
        await eventually(lambda: a.alert_ids == [first], what="delivery while the store is jammed")
        await eventually(lambda: service.channel_states()["a"].sent == 1, what="the worker to move on")
        await jam.unjam()
        assert first is not None
        # Sent but not recorded: still pending, so a restart would resend it once (the outbox contract).
        assert await _deliveries(stores, first) == ["pending"]

        await eventually(lambda: _accepts(service, "R2"), what="writes to succeed again")
        await eventually(lambda: len(a.alert_ids) == 2, what="the worker to keep delivering")
        assert a.alert_ids[0] == first


async def _stored(stores: StoreFactory, symbol: str) -> bool:
    store = stores.new()
    await store.open()
    try:
        return bool(await store.list_alerts(symbol=symbol))
    finally:
        await store.close()


async def _deliveries(stores: StoreFactory, alert_id: int) -> list[str]:
    store = stores.new()
    await store.open()
    try:
        return [d.state for d in await store.deliveries(alert_id)]
    finally:
        await store.close()


async def test_retention_runs_on_its_schedule_and_outlives_a_jammed_store(stores: StoreFactory) -> None:
    clock, a, log, jam = SystemClock(), RecordingSink("a"), RecordingSink("log"), Jam(stores)
    # 1e-8 days is under a millisecond: an alert is due for deletion as soon as it has been sent.
    cfg = config(retention_days=1e-8, retention_interval_s=0.05)
    async with running(jam.store(), cfg, a=a, log=log) as service:
        old = await service.submit(make_signal(symbol="OLD", at_ns=clock.now_ns()))
        await eventually(lambda: a.alert_ids == [old], what="delivery")
        await eventually(
            lambda: _not(_stored(stores, "OLD")), what="the scheduled purge"
        )  # nobody called purge()

        await jam.jam()  # the next purges fail: the operator hears of it and the schedule survives
        await eventually(lambda: titles(log) == ["⚠️ Operator: alert store unwritable"], what="the notice")
        await jam.unjam()

        await eventually(lambda: _accepts(service, "NEW"), what="writes to succeed again")
        await eventually(lambda: len(a.alert_ids) == 2, what="delivery after the jam")
        await eventually(lambda: _not(_stored(stores, "NEW")), what="a scheduled purge after the failures")
