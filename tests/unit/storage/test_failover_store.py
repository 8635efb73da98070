"""`AlertStore.fail_over` and `failed_deliveries` on SQLite and a real PostgreSQL server: one transaction
fails a channel's pending deliveries and adds one per fallback, never a second on a channel; a restart
(a new store over the same database) resumes them with the reason."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from test_store_contract import T0_NS, insert, make_signal

from cryptoradar.alerts.ports import AlertStore
from cryptoradar.storage.factory import Store
from stores import StoreFactory


@pytest.fixture
async def store(stores: StoreFactory) -> AsyncIterator[Store]:
    s = stores.new()
    await s.open()
    yield s
    await s.close()


async def test_fail_over_moves_pending_deliveries_to_each_fallback_once(store: AlertStore) -> None:
    a1 = await insert(store, make_signal(1), ("tg", "mail"))
    a2 = await insert(store, make_signal(2), ("tg",))
    sent = await insert(store, make_signal(3), ("tg",))
    assert None not in (a1, a2, sent)
    await store.mark_sent("tg", [sent], T0_NS)

    failed, rerouted = await store.fail_over("tg", "401 Unauthorized", ["mail", "hook", "tg"], T0_NS + 1)

    assert failed == 2, "only pending deliveries fail; a sent one stays sent"
    # a1 already had a mail delivery: it gets none there again. The channel itself is never a fallback.
    assert [(r.alert_id, r.channel) for r in rerouted] == [(a1, "hook"), (a2, "mail"), (a2, "hook")]
    assert {(r.rerouted_from, r.reroute_reason) for r in rerouted} == {("tg", "401 Unauthorized")}
    assert rerouted[1].signal == make_signal(2)
    assert [(d.channel, d.state, d.last_error) for d in await store.deliveries(a1)] == [
        ("tg", "failed", "401 Unauthorized"),
        ("mail", "pending", None),
        ("hook", "pending", None),
    ]
    assert [d.state for d in await store.deliveries(sent)] == ["sent"]

    # Nothing pending on tg any more: a second failover changes nothing.
    assert await store.fail_over("tg", "again", ["mail", "hook"], T0_NS + 2) == (0, [])

    pending = sorted(
        (p.alert_id, p.channel, p.rerouted_from, p.reroute_reason) for p in await store.pending_deliveries()
    )
    assert pending == sorted(
        [(a1, "mail", None, None), (a1, "hook", "tg", "401 Unauthorized"), (a2, "mail", "tg", "401 Unauthorized"),
         (a2, "hook", "tg", "401 Unauthorized")]
    )  # fmt: skip

    failed_rows = await store.failed_deliveries(limit=10)
    assert [(f.alert_id, f.channel, f.reason, f.rerouted_to) for f in failed_rows] == [
        (a2, "tg", "401 Unauthorized", ("hook", "mail")),
        (a1, "tg", "401 Unauthorized", ("hook",)),
    ]
    assert failed_rows[0].signal == make_signal(2)
    assert len(await store.failed_deliveries(limit=1)) == 1


async def test_rerouted_deliveries_survive_a_restart(stores: StoreFactory) -> None:
    first = stores.new()
    await first.open()
    try:
        alert_id = await insert(first, make_signal(1), ("tg",))
        await first.fail_over("tg", "down for 600s: 502", ["mail"], T0_NS)
    finally:
        await first.close()
    second = stores.new()
    await second.open()
    try:
        [resumed] = await second.pending_deliveries()
        assert (resumed.alert_id, resumed.channel) == (alert_id, "mail")
        assert (resumed.rerouted_from, resumed.reroute_reason) == ("tg", "down for 600s: 502")
    finally:
        await second.close()


async def test_fail_over_without_fallbacks_only_fails(store: AlertStore) -> None:
    alert_id = await insert(store, make_signal(1), ("tg",))
    assert alert_id is not None
    assert await store.fail_over("tg", "403 Forbidden", [], T0_NS) == (1, [])
    [row] = await store.failed_deliveries()
    assert (row.channel, row.reason, row.rerouted_to) == ("tg", "403 Forbidden", ())
