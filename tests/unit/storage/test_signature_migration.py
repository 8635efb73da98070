"""Migration 2 on a database written by the previous release (schema version 1, its dedup keys), on SQLite
and on a real PostgreSQL server: old keys are rewritten so their signals still count as alerted, the kinds
the old key confused get alerts of their own, and wallet keys stay as they were."""

from __future__ import annotations

import sqlite3

import asyncpg
import msgspec

from cryptoradar.alerts.rules import signal_signature, wallet_signature
from cryptoradar.alerts.wallet import wallet_signal
from cryptoradar.config.storage import StorageBackend
from cryptoradar.events import Signal
from cryptoradar.storage import migrations, pg_migrations
from cryptoradar.storage.factory import Store
from cryptoradar.storage.rows import SIGNAL_ENCODER
from fakes.signals import T0_NS, make_signal, make_trade
from stores import StoreFactory

STORM = make_signal(detector="futures_radar", kind="liquidation_storm", symbol="ETHUSDT", timeframe="30s")
RADAR = make_signal(detector="futures_radar", kind="radar", symbol="ETHUSDT", timeframe="30s")
MOMENTUM = make_signal()
TRADE = make_trade(tx_hash="0xAB")


def old_signature(signal: Signal) -> str:
    """The key release 1 stored: detector|symbol|timeframe|window_start_ms."""
    return f"{signal.detector}|{signal.symbol}|{signal.timeframe}|{signal.window_start_ms}"


OLD_ROWS = (
    (old_signature(STORM), STORM),
    (old_signature(MOMENTUM), MOMENTUM),
    (wallet_signature(TRADE), wallet_signal(TRADE)),
)
_INSERT = (
    "INSERT INTO alerts (signature, detector, type, symbol, timeframe, severity, window_start_ms,"
    " bar_close_time_ms, created_at_ns, payload) VALUES "
)


def _values(signature: str, s: Signal) -> tuple[object, ...]:
    return (signature, s.detector, s.kind, s.symbol, s.timeframe, s.severity.value, s.window_start_ms,
            s.window_end_ms, T0_NS, SIGNAL_ENCODER.encode(s))  # fmt: skip


async def _release_1_database(stores: StoreFactory) -> None:
    """Schema version 1 with rows keyed as release 1 keyed them."""
    if stores.backend is StorageBackend.POSTGRES:
        dsn = stores.config.postgres_dsn
        assert dsn is not None
        conn = await asyncpg.connect(dsn.get_secret_value())
        try:
            await pg_migrations.schema_version(conn)
            for statement in pg_migrations.MIGRATIONS[0][1]:
                await conn.execute(statement)
            await conn.execute("INSERT INTO schema_version VALUES (1, 0)")
            for signature, s in OLD_ROWS:
                await conn.execute(
                    _INSERT + "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)", *_values(signature, s)
                )
        finally:
            await conn.close()
        return
    db = sqlite3.connect(stores.config.sqlite_path, isolation_level=None)
    try:
        migrations.schema_version(db)
        for statement in migrations.MIGRATIONS[0][1]:
            db.execute(statement)
        db.execute("INSERT INTO schema_version VALUES (1, 0)")
        for signature, s in OLD_ROWS:
            db.execute(_INSERT + "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", _values(signature, s))
    finally:
        db.close()


async def _insert(store: Store, s: Signal) -> int | None:
    return await store.insert_alert(
        s, signature=signal_signature(s), channels=("hook",), created_at_ns=T0_NS, cooldown_until_ns=None,
        entry_price=None,
    )  # fmt: skip


async def test_old_keys_stay_comparable_after_the_upgrade(stores: StoreFactory) -> None:
    await _release_1_database(stores)
    store = stores.new()
    await store.open()
    try:
        storm = await store.find_alert(signal_signature(STORM))
        momentum = await store.find_alert(signal_signature(MOMENTUM))
        assert storm is not None
        assert storm.signal == STORM
        assert momentum is not None
        assert momentum.signal == MOMENTUM
        assert await store.find_alert(old_signature(STORM)) is None, "no row keeps the old form"
        wallet = await store.find_alert(wallet_signature(TRADE))
        assert wallet is not None
        assert wallet.signal.kind == "wallet_trade"

        assert await _insert(store, STORM) is None, "an alerted signal is still a duplicate"
        assert await _insert(store, MOMENTUM) is None
        radar = await _insert(store, RADAR)
        assert radar is not None, "the composite over the storm's window was lost as a duplicate before"
        escalated = await _insert(
            store, msgspec.structs.replace(RADAR, window_end_ms=RADAR.window_end_ms + 1000)
        )
        assert escalated is not None, "a later signal of the same window (the radar's escalation) alerts"
        stored = {r.id for r in await store.list_alerts(limit=10)}
        assert stored == {storm.id, momentum.id, wallet.id, radar, escalated}
    finally:
        await store.close()
