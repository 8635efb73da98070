"""The alert-store contract, run against SQLite and a real PostgreSQL server: the outbox (committed before
delivery, pending resumes, sent never resent), dedup, cooldowns, silences, state and retention."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator

import asyncpg
import pytest

from cryptoradar.alerts.ports import AlertStore
from cryptoradar.events import Direction, Severity, Signal
from cryptoradar.storage.factory import Store
from cryptoradar.storage.sqlite import SqliteStore
from stores import StoreFactory

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
async def store(stores: StoreFactory) -> AsyncIterator[Store]:
    s = stores.new()
    typed: AlertStore = s  # both backends satisfy the port structurally (checked by mypy here)
    await typed.open()
    yield s
    await s.close()


async def insert(store: AlertStore, s: Signal, channels: tuple[str, ...] = ("a", "b")) -> int | None:
    return await store.insert_alert(
        s,
        signature=sig_key(s),
        channels=channels,
        created_at_ns=T0_NS,
        cooldown_until_ns=None,
        entry_price=None,
    )


async def test_reopen_keeps_data_and_schema(stores: StoreFactory) -> None:
    for _ in range(2):
        s = stores.new()
        await s.open()
        await s.open()  # idempotent
        await s.set_state("bar:BTCUSDT:1m", "123")
        await s.close()
    s = stores.new()
    await s.open()
    assert await s.get_state("bar:BTCUSDT:1m") == "123"
    assert await s.get_state("missing") is None
    await s.set_state("bar:BTCUSDT:1m", "124")
    assert await s.get_state("bar:BTCUSDT:1m") == "124"
    await s.close()


async def test_duplicate_signature_writes_nothing(store: Store) -> None:
    s = make_signal()
    first = await insert(store, s)
    assert first is not None
    assert await insert(store, s) is None
    assert [d.channel for d in await store.deliveries(first)] == ["a", "b"]
    assert len(await store.pending_deliveries()) == 2


async def test_concurrent_duplicates_commit_exactly_once(store: Store) -> None:
    s = make_signal(7)
    results = await asyncio.gather(*(insert(store, s) for _ in range(8)))
    assert len([r for r in results if r is not None]) == 1
    assert len(await store.pending_deliveries()) == 2


async def test_failed_insert_rolls_back_alone(store: Store) -> None:
    good, bad = make_signal(1), make_signal(2)
    # A channel listed twice violates UNIQUE(alert_id, channel): that alert must vanish whole,
    # while the alert committed alongside it (SQLite: the same group commit) stays.
    results = await asyncio.gather(
        insert(store, good), insert(store, bad, ("a", "a")), return_exceptions=True
    )
    assert isinstance(results[0], int)
    # The constraint violation itself, not some other failure (a bad statement would also raise).
    violation = sqlite3.IntegrityError if isinstance(store, SqliteStore) else asyncpg.UniqueViolationError
    assert isinstance(results[1], violation)
    assert await store.find_alert(sig_key(bad)) is None
    assert await store.find_alert(sig_key(good)) is not None
    assert {p.alert_id for p in await store.pending_deliveries()} == {results[0]}


async def two_alerts_on_a_and_b(s: AlertStore) -> tuple[int, int]:
    """Two alerts pending on channels a and b, the first already sent on a (at T0 + 1 ns)."""
    a1 = await insert(s, make_signal(1))
    a2 = await insert(s, make_signal(2))
    assert a1 is not None
    assert a2 is not None
    await s.mark_sent("a", [a1], T0_NS + 1)
    return a1, a2


async def test_sent_survives_restart_and_pending_resumes(stores: StoreFactory) -> None:
    s = stores.new()
    await s.open()
    a1, a2 = await two_alerts_on_a_and_b(s)
    await s.mark_retry("b", [a1], "HTTP 503", T0_NS + 5)
    await s.close()

    s = stores.new()
    await s.open()
    pending = [(p.alert_id, p.channel, p.attempts) for p in await s.pending_deliveries()]
    assert pending == [(a1, "b", 1), (a2, "a", 0), (a2, "b", 0)]  # oldest first
    assert (await s.pending_deliveries())[0].signal == make_signal(1)
    states = {d.channel: (d.state, d.sent_at_ns, d.last_error) for d in await s.deliveries(a1)}
    assert states == {"a": ("sent", T0_NS + 1, None), "b": ("pending", None, "HTTP 503")}
    # Marking sent again (a duplicate ack after a crash) changes nothing.
    await s.mark_sent("a", [a1], T0_NS + 99)
    assert (await s.deliveries(a1))[0].sent_at_ns == T0_NS + 1
    assert await s.mark_failed("b", "403 Forbidden") == 2
    assert await s.mark_failed("b", "403 Forbidden") == 0
    assert [(p.alert_id, p.channel) for p in await s.pending_deliveries()] == [(a2, "a")]
    await s.mark_sent("a", [a2], T0_NS + 7)
    assert await s.pending_deliveries() == []
    await s.close()


async def test_retracted_deliveries_are_final_across_a_reopen(stores: StoreFactory) -> None:
    s = stores.new()
    await s.open()
    a1, a2 = await two_alerts_on_a_and_b(s)
    # Only pending deliveries close: a1 on a was sent and stays sent; a1 on b and a2 on b close.
    assert await s.mark_retracted("a", [a1], "retracted before delivery") == 0
    assert await s.mark_retracted("b", [a1, a2], "retracted before delivery") == 2
    assert await s.mark_retracted("b", [a1], "again") == 0
    await s.close()

    s = stores.new()
    await s.open()
    assert [(p.alert_id, p.channel) for p in await s.pending_deliveries()] == [(a2, "a")]
    states = {d.channel: (d.state, d.last_error, d.sent_at_ns) for d in await s.deliveries(a1)}
    assert states == {"a": ("sent", None, T0_NS + 1), "b": ("failed", "retracted before delivery", None)}
    await s.mark_sent("b", [a2], T0_NS + 2)  # a late ack of a closed delivery changes nothing
    assert [(d.channel, d.state) for d in await s.deliveries(a2)] == [("a", "pending"), ("b", "failed")]
    assert await s.purge(alerts_before_ns=T0_NS + 1, now_ns=T0_NS + 1) == 1  # a1: nothing left pending
    await s.close()


async def test_cooldown_written_with_alert_and_updated(store: Store) -> None:
    s = make_signal(3)
    for until_ns, price in ((T0_NS + 10, 103.0), (T0_NS + 20, None)):
        await store.insert_alert(
            s,
            signature=f"{sig_key(s)}|{until_ns}",
            channels=("a",),
            created_at_ns=T0_NS,
            cooldown_until_ns=until_ns,
            entry_price=price,
        )
    (row,) = await store.load_cooldowns()
    assert (row.detector, row.symbol, row.kind, row.last_event_ns) == (
        "momentum",
        "BTCUSDT",
        "momentum",
        s.ts_event_ns,
    )
    assert (row.until_ns, row.last_entry_price, row.last_direction) == (T0_NS + 20, None, "bullish")


async def test_list_alerts_filters_and_pages(store: Store) -> None:
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
    both = await store.list_alerts(symbol="BTCUSDT", severity="high", detector="momentum", since_ns=T0_NS)
    assert len(both) == 3
    assert await store.list_alerts(since_ns=T0_NS + 1) == []


async def test_silences_round_trip(store: Store) -> None:
    sid = await store.add_silence(
        ['symbol="BTCUSDT"', 'severity=~"info|warning"'],
        until_ns=T0_NS + 5,
        created_by="ops",
        reason="maintenance",
        created_at_ns=T0_NS,
    )
    (row,) = await store.list_silences()
    assert (row.id, row.matchers, row.until_ns, row.created_by, row.reason, row.created_at_ns) == (
        sid,
        ('symbol="BTCUSDT"', 'severity=~"info|warning"'),
        T0_NS + 5,
        "ops",
        "maintenance",
        T0_NS,
    )
    assert await store.remove_silence(sid) is True
    assert await store.remove_silence(sid) is False


async def test_purge_keeps_pending_and_recent(store: Store) -> None:
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
        cooldown_until_ns=T0_NS + 10,
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
    assert await store.load_cooldowns() == []
    assert await store.deliveries(old_sent) == []


async def test_alerts_submitted_together_keep_order_and_the_last_cooldown(store: Store) -> None:
    signals = [make_signal(i) for i in range(20)]
    ids = await asyncio.gather(
        *(
            store.insert_alert(
                s,
                signature=sig_key(s),
                channels=("a", "b") if i % 2 else ("a",),
                created_at_ns=T0_NS + i,
                cooldown_until_ns=T0_NS + 1000 + i,
                entry_price=float(i),
            )
            for i, s in enumerate(signals)
        )
    )
    assert ids == sorted(i for i in ids if i is not None)  # ids follow submission order
    pending = await store.pending_deliveries()
    assert [(p.alert_id, p.channel) for p in pending] == [
        (alert_id, c) for i, alert_id in enumerate(ids) for c in (("a", "b") if i % 2 else ("a",))
    ]
    (cooldown,) = await store.load_cooldowns()
    assert (cooldown.until_ns, cooldown.last_entry_price) == (T0_NS + 1019, 19.0)
