"""AlertService end to end over a real store (SQLite file and PostgreSQL server) and in-test sinks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import pytest
from signals import T0_NS, S, make_signal, make_trade
from sinks import HangingSink, RecordingSink, permanent, retryable

from conftest import eventually
from cryptoradar.alerts.delivery import ChannelState
from cryptoradar.alerts.ports import AlertStore
from cryptoradar.alerts.rules import Suppression, signal_signature
from cryptoradar.alerts.service import Admission, AlertFilter, AlertService, Page
from cryptoradar.config.alerts import AlertsConfig
from cryptoradar.core.clock import SystemClock
from cryptoradar.events import Direction, Severity, Signal
from cryptoradar.notifications import Sink
from cryptoradar.storage.factory import Store
from cryptoradar.storage.rows import StoredPendingDelivery
from cryptoradar.storage.sqlite import SqliteStore
from stores import StoreFactory

NO_LIMIT = [{"limit": 1000, "window_s": 1}]


def config(channels: tuple[str, ...] = ("a", "b", "log"), **extra: object) -> AlertsConfig:
    data: dict[str, object] = {
        "channels": {
            c: {
                "type": "log" if c == "log" else "webhook",
                "url": "http://127.0.0.1:9/x",
                "secret": "s",
                "rate_limits": NO_LIMIT,
            }
            if c != "log"
            else {"type": "log"}
            for c in channels
        },
        "default_channels": ["a"],
        "fallback_channels": ["log"],
        "group_wait_s": 0,
    }
    data.update(extra)
    return AlertsConfig.model_validate(data)


class Env:
    def __init__(self, stores: StoreFactory) -> None:
        self.stores = stores
        self.services: list[tuple[AlertService, Store]] = []

    async def start(
        self, cfg: AlertsConfig, sinks: Mapping[str, Sink], store: Store | None = None
    ) -> tuple[AlertService, Store]:
        store = store or self.stores.new()
        await store.open()
        typed: AlertStore = store  # SqliteStore satisfies the port structurally (checked by mypy here)
        service = AlertService(cfg, typed, sinks, SystemClock())
        await service.start()
        self.services.append((service, store))
        return service, store

    async def stop(self, flush_timeout_s: float = 2.0) -> None:
        while self.services:
            service, store = self.services.pop()
            await service.stop(flush_timeout_s)
            await store.close()


@pytest.fixture
async def env(stores: StoreFactory) -> AsyncIterator[Env]:
    e = Env(stores)
    yield e
    await e.stop(0.2)


async def test_submit_delivers_once_and_dedups(env: Env) -> None:
    a = RecordingSink("a")
    service, store = await env.start(config(), {"a": a})
    s = make_signal()
    alert_id = await service.submit(s)
    assert alert_id is not None
    assert await service.admit(s) == Admission(None, Suppression.COOLDOWN)  # checked before the key
    await eventually(lambda: a.alert_ids == [alert_id], what="delivery")
    await eventually(lambda: service.channel_states()["a"].sent == 1, what="sent recorded")
    (delivery,) = await store.deliveries(alert_id)
    assert (delivery.channel, delivery.state, delivery.attempts) == ("a", "sent", 1)
    (row,) = await service.list_alerts(AlertFilter(symbol="BTCUSDT"), Page(limit=10))
    assert row.id == alert_id
    assert row.signal == s


async def test_cooldown_survives_restart(env: Env) -> None:
    service, _ = await env.start(config(), {"a": RecordingSink("a")})
    assert await service.submit(make_signal(at_ns=T0_NS)) is not None
    assert await service.submit(make_signal(at_ns=T0_NS + 60 * S)) is None
    await env.stop()
    service, _ = await env.start(config(), {"a": RecordingSink("a")})
    assert await service.submit(make_signal(at_ns=T0_NS + 1799 * S)) is None
    assert await service.submit(make_signal(at_ns=T0_NS + 1800 * S)) is not None
    assert await service.submit(make_signal(symbol="ETHUSDT", at_ns=T0_NS + 60 * S)) is not None


async def test_confluence_reentry_through_service(env: Env) -> None:
    service, _ = await env.start(config(), {"a": RecordingSink("a")})

    def conf(at_s: int, entry: float) -> Signal:
        return make_signal(
            detector="confluence",
            kind="confluence",
            at_ns=T0_NS + at_s * S,
            metrics={"entry": entry},
            direction=Direction.BULLISH,
        )

    assert await service.submit(conf(0, 100.0)) is not None
    assert await service.submit(conf(60, 100.2)) is None
    assert await service.submit(conf(120, 100.5)) is not None


async def test_routes_and_silences(env: Env) -> None:
    a, b = RecordingSink("a"), RecordingSink("b")
    cfg = config(routes=[{"matchers": ['severity=~"high|critical"'], "channels": ["b"]}])
    service, _ = await env.start(cfg, {"a": a, "b": b})
    high = await service.submit(make_signal(symbol="X1", severity=Severity.HIGH))
    info = await service.submit(make_signal(symbol="X2", severity=Severity.INFO))
    await eventually(lambda: a.alert_ids == [info] and b.alert_ids == [high], what="routing")

    sid = await service.add_silence(
        ['symbol="X3"'], until_ns=T0_NS + 60 * S, created_by="ops", reason="noisy"
    )
    assert await service.admit(make_signal(symbol="X3")) == Admission(None, Suppression.SILENCED)
    assert [s.id for s in await service.list_silences()] == [sid]
    assert await service.remove_silence(sid) is True
    assert await service.submit(make_signal(symbol="X3")) is not None
    with pytest.raises(ValueError, match="matcher"):
        await service.add_silence([], until_ns=T0_NS, created_by="ops", reason="")
    with pytest.raises(ValueError, match="matcher"):
        await service.add_silence(["nonsense"], until_ns=T0_NS, created_by="ops", reason="")


async def test_silence_persists_across_restart(env: Env) -> None:
    service, _ = await env.start(config(), {"a": RecordingSink("a")})
    await service.add_silence(['detector="momentum"'], until_ns=T0_NS + 60 * S, created_by="ops", reason="")
    await env.stop()
    service, _ = await env.start(config(), {"a": RecordingSink("a")})
    assert await service.submit(make_signal(at_ns=T0_NS + 59 * S)) is None
    assert await service.submit(make_signal(at_ns=T0_NS + 60 * S, symbol="Z")) is not None


async def test_grouping_merges_within_group_wait(env: Env) -> None:
    a = RecordingSink("a")
    service, _ = await env.start(config(group_wait_s=0.3), {"a": a})
    ids = [await service.submit(make_signal(symbol=f"G{i}")) for i in range(3)]
    await eventually(lambda: a.alert_ids == ids, what="grouped delivery")
    assert len(a.requests) == 1


async def test_permanent_error_disables_channel_and_alerts_operator(env: Env) -> None:
    bad, log = RecordingSink("a", fail=lambda _: permanent()), RecordingSink("log")
    service, store = await env.start(config(), {"a": bad, "log": log})
    first = await service.submit(make_signal(symbol="P1"))
    await eventually(
        lambda: service.channel_states()["a"].state is ChannelState.FAILED, what="channel disabled"
    )
    # The pending alert is rerouted to the fallback (channel failover), and the operator is told.
    await eventually(lambda: len(log.requests) == 2, what="operator alert and rerouted alert on the fallback")
    sent = {a.title: a for r in log.requests for a in r.alerts}
    operator = sent["⚠️ Operator: alert channel a disabled"]
    assert operator.severity is Severity.CRITICAL
    assert first is not None
    assert first in log.alert_ids

    async def rerouted_and_sent(alert_id: int) -> bool:
        # The fallback's "sent" is stored just after its sink returns, so wait for it, not only the request.
        states = [(d.channel, d.state) for d in await store.deliveries(alert_id)]
        return states == [("a", "failed"), ("log", "sent")]

    await eventually(lambda: rerouted_and_sent(first), what="first alert failed on a, sent on log")
    assert [k.value for k, _ in service.operator_incidents()] == ["channel_disabled"]
    # New alerts routed to the dead channel are rerouted to the fallback instead of vanishing.
    second = await service.submit(make_signal(symbol="P2"))
    await eventually(lambda: second in log.alert_ids, what="fallback delivery")
    assert second is not None
    await eventually(lambda: rerouted_and_sent(second), what="second alert failed on a, sent on log")
    assert len(bad.attempts) == 1  # the dead channel is not tried again


async def test_hanging_channel_does_not_delay_another(env: Env) -> None:
    slow, fast = HangingSink("a"), RecordingSink("b")
    cfg = config(routes=[{"matchers": [], "channels": ["a", "b"]}])
    service, _store = await env.start(cfg, {"a": slow, "b": fast})
    ids = [await service.submit(make_signal(symbol=f"H{i}")) for i in range(3)]
    await eventually(lambda: fast.alert_ids == ids, what="fast channel delivering while the slow one hangs")
    assert slow.started == 1
    assert slow.requests == []
    assert service.channel_states()["a"].queued == 2
    await env.stop(flush_timeout_s=0.1)  # returns although the slow channel never finishes
    assert slow.closed
    assert fast.closed
    pending = {(p.alert_id, p.channel) for p in await _pending(env.stores)}
    assert pending == {(i, "a") for i in ids}


async def _pending(stores: StoreFactory) -> list[StoredPendingDelivery]:
    store = stores.new()
    await store.open()
    try:
        return list(await store.pending_deliveries())
    finally:
        await store.close()


async def test_pending_deliveries_resume_after_restart(env: Env) -> None:
    down = RecordingSink("a", fail=lambda _: retryable(retry_after_s=60))
    service, _ = await env.start(config(), {"a": down})
    alert_id = await service.submit(make_signal())
    await eventually(lambda: len(down.attempts) == 1, what="first failed attempt")
    await env.stop(flush_timeout_s=0.05)
    up = RecordingSink("renamed")  # deliveries are keyed by the configured channel, not the sink's name
    service, store = await env.start(config(), {"a": up})
    await eventually(lambda: up.alert_ids == [alert_id], what="resumed delivery")
    await eventually(lambda: service.channel_states()["a"].sent == 1, what="sent recorded")
    assert alert_id is not None
    assert [(d.channel, d.state) for d in await store.deliveries(alert_id)] == [("a", "sent")]


async def test_wallet_trade_and_correction(env: Env) -> None:
    a = RecordingSink("a")
    service, _ = await env.start(config(), {"a": a})
    trade = make_trade()
    original = await service.submit_wallet_trade(trade)
    assert original is not None
    assert await service.submit_wallet_trade(trade) is None
    await eventually(lambda: a.alert_ids == [original], what="wallet alert")
    await eventually(lambda: service.channel_states()["a"].sent == 1, what="sent recorded")
    import msgspec

    removed = msgspec.structs.replace(trade, removed=True)
    correction = await service.submit_wallet_trade(removed)
    assert correction is not None
    await eventually(lambda: a.alert_ids == [original, correction], what="correction")
    assert "Correction" in a.requests[-1].alerts[0].title
    never_sent = msgspec.structs.replace(trade, tx_hash="0xU", removed=True)
    assert await service.submit_wallet_trade(never_sent) is None


async def test_purge_retention(env: Env) -> None:
    a = RecordingSink("a")
    service, store = await env.start(config(retention_days=1e-9), {"a": a})
    alert_id = await service.submit(make_signal())
    await eventually(lambda: service.channel_states()["a"].sent == 1, what="sent")
    assert await service.purge() == 1
    assert await store.find_alert(signal_signature(make_signal())) is None
    assert alert_id is not None


async def test_submit_before_start_is_an_error(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "x.db")
    service = AlertService(config(), store, {}, SystemClock())
    with pytest.raises(RuntimeError, match="start"):
        await service.submit(make_signal())
