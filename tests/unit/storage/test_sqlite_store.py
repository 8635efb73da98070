"""SqliteStore against real database files: migrations, the outbox contract, state, retention."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from cryptoradar.events import Direction, Severity, Signal
from cryptoradar.storage.migrations import MIGRATIONS, apply_migrations, schema_version
from cryptoradar.storage.sqlite import SqliteStore

T0_NS = 1_767_225_600_000_000_000


def make_signal(i: int = 0, *, symbol: str = "BTCUSDT", kind: str = "momentum") -> Signal:
    start_ms = T0_NS // 1_000_000 + i * 60_000
    return Signal(
        detector="momentum",
        rule_version=1,
        kind=kind,
        symbol=symbol,
        timeframe="1m",
        window_start_ms=start_ms,
        window_end_ms=start_ms + 59_999,
        direction=Direction.BULLISH,
        severity=Severity.HIGH,
        conditions=(),
        metrics={"entry": 100.0 + i},
        labels={},
        symbols=(symbol,),
        ts_event_ns=(start_ms + 60_000) * 1_000_000,
    )


def sig_key(s: Signal) -> str:
    return f"{s.detector}|{s.symbol}|{s.timeframe}|{s.window_start_ms}"


@pytest.fixture
async def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    s = SqliteStore(tmp_path / "alerts.db")
    await s.open()
    yield s
    await s.close()


async def insert(store: SqliteStore, s: Signal, channels: tuple[str, ...] = ("a", "b")) -> int | None:
    return await store.insert_alert(
        s,
        signature=sig_key(s),
        channels=channels,
        created_at_ns=T0_NS,
        cooldown_until_ns=None,
        entry_price=None,
    )


def test_migrations_are_idempotent(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "m.db", isolation_level=None)
    newest = MIGRATIONS[-1][0]
    assert schema_version(conn) == 0
    assert apply_migrations(conn) == newest
    assert apply_migrations(conn) == newest
    assert conn.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == len(MIGRATIONS)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"alerts", "deliveries", "cooldowns", "silences", "state", "schema_version"} <= tables


async def test_reopen_keeps_data_and_schema(tmp_path: Path) -> None:
    path = tmp_path / "alerts.db"
    for _ in range(2):
        s = SqliteStore(path)
        await s.open()
        await s.set_state("bar:BTCUSDT:1m", "123")
        await s.close()
    s = SqliteStore(path)
    await s.open()
    assert await s.get_state("bar:BTCUSDT:1m") == "123"
    assert await s.get_state("missing") is None
    await s.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_duplicate_signature_writes_nothing(store: SqliteStore) -> None:
    s = make_signal()
    first = await insert(store, s)
    assert first is not None
    assert await insert(store, s) is None
    assert [d.channel for d in await store.deliveries(first)] == ["a", "b"]
    assert len(await store.pending_deliveries()) == 2


async def test_failed_insert_rolls_back_alone_in_a_group_commit(store: SqliteStore, tmp_path: Path) -> None:
    import asyncio

    good, bad = make_signal(1), make_signal(2)
    # A channel listed twice violates UNIQUE(alert_id, channel): that alert must vanish whole,
    # while the alert committed in the same batch stays.
    results = await asyncio.gather(
        insert(store, good), insert(store, bad, ("a", "a")), return_exceptions=True
    )
    assert isinstance(results[0], int)
    assert isinstance(results[1], sqlite3.IntegrityError)
    assert await store.find_alert(sig_key(bad)) is None
    assert await store.find_alert(sig_key(good)) is not None
    assert {p.alert_id for p in await store.pending_deliveries()} == {results[0]}


async def test_sent_survives_restart_and_pending_resumes(tmp_path: Path) -> None:
    path = tmp_path / "alerts.db"
    s = SqliteStore(path)
    await s.open()
    a1 = await insert(s, make_signal(1))
    a2 = await insert(s, make_signal(2))
    assert a1 is not None
    assert a2 is not None
    await s.mark_sent("a", [a1], T0_NS + 1)
    await s.mark_retry("b", [a1], "HTTP 503", T0_NS + 5)
    await s.close()

    s = SqliteStore(path)
    await s.open()
    pending = {(p.alert_id, p.channel, p.attempts) for p in await s.pending_deliveries()}
    assert pending == {(a1, "b", 1), (a2, "a", 0), (a2, "b", 0)}
    states = {d.channel: (d.state, d.sent_at_ns, d.last_error) for d in await s.deliveries(a1)}
    assert states == {"a": ("sent", T0_NS + 1, None), "b": ("pending", None, "HTTP 503")}
    # Marking sent again (a duplicate ack after a crash) changes nothing.
    await s.mark_sent("a", [a1], T0_NS + 99)
    assert (await s.deliveries(a1))[0].sent_at_ns == T0_NS + 1
    assert await s.mark_failed("b", "403 Forbidden") == 2
    assert [(p.alert_id, p.channel) for p in await s.pending_deliveries()] == [(a2, "a")]
    await s.close()


async def test_cooldown_written_with_alert(store: SqliteStore) -> None:
    s = make_signal(3)
    await store.insert_alert(
        s,
        signature=sig_key(s),
        channels=("a",),
        created_at_ns=T0_NS,
        cooldown_until_ns=T0_NS + 10,
        entry_price=103.0,
    )
    (row,) = await store.load_cooldowns()
    assert (row.detector, row.symbol, row.kind, row.last_event_ns) == (
        "momentum",
        "BTCUSDT",
        "momentum",
        s.ts_event_ns,
    )
    assert (row.until_ns, row.last_entry_price, row.last_direction) == (T0_NS + 10, 103.0, "bullish")


async def test_list_alerts_filters_and_pages(store: SqliteStore) -> None:
    ids = [await insert(store, make_signal(i, symbol="ETHUSDT" if i % 2 else "BTCUSDT")) for i in range(5)]
    newest_first = [a.id for a in await store.list_alerts()]
    assert newest_first == sorted((i for i in ids if i is not None), reverse=True)
    eth = await store.list_alerts(symbol="ETHUSDT")
    assert {a.signal.symbol for a in eth} == {"ETHUSDT"}
    assert len(eth) == 2
    page1 = await store.list_alerts(limit=2)
    page2 = await store.list_alerts(limit=2, before_id=page1[-1].id)
    assert [a.id for a in page1 + page2] == newest_first[:4]
    assert await store.list_alerts(kind="nope") == []


async def test_silences_round_trip(store: SqliteStore) -> None:
    sid = await store.add_silence(
        ['symbol="BTCUSDT"', 'severity=~"info|warning"'],
        until_ns=T0_NS + 5,
        created_by="ops",
        reason="maintenance",
        created_at_ns=T0_NS,
    )
    (row,) = await store.list_silences()
    assert (row.id, row.matchers, row.created_by) == (
        sid,
        ('symbol="BTCUSDT"', 'severity=~"info|warning"'),
        "ops",
    )
    assert await store.remove_silence(sid) is True
    assert await store.remove_silence(sid) is False


async def test_purge_keeps_pending_and_recent(store: SqliteStore) -> None:
    old_sent = await insert(store, make_signal(1), ("a",))
    old_pending = await insert(store, make_signal(2), ("a",))
    assert old_sent is not None
    assert old_pending is not None
    await store.mark_sent("a", [old_sent], T0_NS)
    recent = make_signal(3)
    await store.insert_alert(
        recent,
        signature=sig_key(recent),
        channels=("a",),
        created_at_ns=T0_NS + 100,
        cooldown_until_ns=None,
        entry_price=None,
    )
    await store.add_silence(
        ['symbol="X"'], until_ns=T0_NS + 1, created_by="ops", reason="", created_at_ns=T0_NS
    )
    assert await store.purge(alerts_before_ns=T0_NS + 50, now_ns=T0_NS + 50) == 1
    remaining = {a.id for a in await store.list_alerts()}
    assert old_sent not in remaining
    assert old_pending in remaining
    assert len(remaining) == 2
    assert await store.list_silences() == []
    assert await store.deliveries(old_sent) == []
