"""A reorged wallet trade (`removed: true`) retracts its alert, per channel: never sent if still pending
(waiting out its group, paused for a retry), corrected if sent or being sent. Real stores (SQLite file,
PostgreSQL server) and in-test sinks; the in-flight race is pinned with a sink blocked on an Event."""

from __future__ import annotations

import msgspec
from signals import make_trade
from sinks import HangingSink, RecordingSink, retryable
from test_alert_service import Env, config, env

from conftest import eventually
from cryptoradar.alerts.delivery import RETRACTED_BEFORE_DELIVERY
from cryptoradar.alerts.service import AlertService
from cryptoradar.core.metrics import REGISTRY
from cryptoradar.events import WalletTrade
from cryptoradar.notifications import Notification
from cryptoradar.storage.factory import Store

__all__ = ["env"]  # fixture

TWO_CHANNELS = config(
    routes=[
        {"matchers": [], "channels": ["a"], "continue": True},
        {"matchers": [], "channels": ["b"], "group_wait_s": 3600},
    ]
)
"""`a` sends at once; `b` holds every alert for an hour (its group wait), so a retraction finds it queued."""


def removed(trade: WalletTrade) -> WalletTrade:
    return msgspec.structs.replace(trade, removed=True)


def retracted_total(channel: str) -> float:
    value = REGISTRY.get_sample_value(
        "cryptoradar_alerts_total", {"channel": channel, "outcome": "retracted"}
    )
    return value or 0.0


async def test_retraction_during_group_wait_sends_nothing_there_and_corrects_where_sent(env: Env) -> None:
    a, b = RecordingSink("a"), RecordingSink("b")
    service, store = await env.start(TWO_CHANNELS, {"a": a, "b": b})
    trade = make_trade()
    original = await service.submit_wallet_trade(trade)
    assert original is not None
    await eventually(lambda: service.channel_states()["a"].sent == 1, what="sent recorded on a")
    assert service.channel_states()["b"].queued == 1
    retracted_before = retracted_total("b")

    correction = await service.submit_wallet_trade(removed(trade))

    assert correction is not None
    await eventually(lambda: a.alert_ids == [original, correction], what="correction on a")
    await eventually(lambda: service.channel_states()["a"].sent == 2, what="correction recorded")
    assert [(d.channel, d.state) for d in await store.deliveries(correction)] == [("a", "sent")]
    states = {d.channel: (d.state, d.last_error) for d in await store.deliveries(original)}
    assert states == {"a": ("sent", None), "b": ("failed", RETRACTED_BEFORE_DELIVERY)}
    assert service.channel_states()["b"].queued == 0
    assert retracted_total("b") == retracted_before + 1
    await env.stop(flush_timeout_s=2.0)  # stopping flushes every group wait: b would send it now
    assert b.requests == []

    # Final: a restart over the same database does not resume it.
    b_again = RecordingSink("b")
    service, store = await env.start(TWO_CHANNELS, {"a": RecordingSink("a"), "b": b_again})
    assert [(p.alert_id, p.channel) for p in await store.pending_deliveries()] == []
    assert service.channel_states()["b"].queued == 0
    await env.stop(flush_timeout_s=2.0)
    assert b_again.requests == []


async def test_retraction_of_an_alert_never_sent_anywhere_sends_nothing(env: Env) -> None:
    b = RecordingSink("b")
    service, store = await env.start(config(group_wait_s=3600, default_channels=["b"]), {"b": b})
    trade = make_trade()
    original = await service.submit_wallet_trade(trade)
    assert original is not None

    assert await service.submit_wallet_trade(removed(trade)) is None
    assert await service.submit_wallet_trade(removed(trade)) is None  # a repeated removal: still nothing
    assert [(d.state, d.last_error) for d in await store.deliveries(original)] == [
        ("failed", RETRACTED_BEFORE_DELIVERY)
    ]
    await env.stop(flush_timeout_s=2.0)
    assert b.requests == []


async def test_retraction_of_an_alert_resumed_after_a_restart_and_retrying_is_final(env: Env) -> None:
    def down() -> RecordingSink:
        return RecordingSink("a", fail=lambda _: retryable(retry_after_s=3600))

    first = down()
    service, _ = await env.start(config(), {"a": first})
    trade = make_trade()
    original = await service.submit_wallet_trade(trade)
    assert original is not None
    await eventually(lambda: len(first.attempts) == 1, what="first attempt failed")
    await env.stop(flush_timeout_s=0.1)  # still pending in the outbox

    second = down()
    service, store = await env.start(config(), {"a": second})
    await eventually(lambda: service.channel_states()["a"].retries == 1, what="resumed, failed, paused")
    assert await service.submit_wallet_trade(removed(trade)) is None

    (delivery,) = await store.deliveries(original)
    assert (delivery.state, delivery.last_error, delivery.attempts) == (
        "failed",
        RETRACTED_BEFORE_DELIVERY,
        2,
    )
    assert service.channel_states()["a"].queued == 0
    await env.stop(flush_timeout_s=0.1)
    assert len(second.attempts) == 1  # never retried

    up = RecordingSink("a")
    service, store = await env.start(config(), {"a": up})
    assert await store.pending_deliveries() == []
    await env.stop(flush_timeout_s=2.0)
    assert up.requests == []


async def original_being_sent(env: Env) -> tuple[AlertService, Store, HangingSink, WalletTrade, int]:
    """A wallet alert whose send to channel a has started and hangs until `sink.release` is set."""
    slow = HangingSink("a")
    service, store = await env.start(config(), {"a": slow})
    trade = make_trade()
    original = await service.submit_wallet_trade(trade)
    assert original is not None
    await eventually(lambda: slow.started == 1, what="the original's send to start")
    return service, store, slow, trade, original


async def test_retraction_while_the_original_is_being_sent_corrects_it(env: Env) -> None:
    service, store, slow, trade, original = await original_being_sent(env)

    correction = await service.submit_wallet_trade(removed(trade))  # decided while the send hangs

    assert correction is not None
    assert slow.requests == []
    slow.release.set()
    await eventually(lambda: slow.alert_ids == [original, correction], what="original, then correction")
    await eventually(lambda: service.channel_states()["a"].sent == 2, what="both recorded")
    assert [d.state for d in await store.deliveries(original)] == ["sent"]
    assert "Correction" in slow.requests[1].alerts[0].title


async def test_retraction_while_a_send_fails_corrects_and_never_retries(env: Env) -> None:
    service, store, slow, trade, original = await original_being_sent(env)

    def fail_the_original(notification: Notification) -> Exception | None:
        # The remote may still have it (a send that times out says nothing), so the correction goes anyway.
        return retryable() if any(a.alert_id == original for a in notification.alerts) else None

    slow.fail = fail_the_original
    correction = await service.submit_wallet_trade(removed(trade))
    assert correction is not None
    slow.release.set()
    await eventually(lambda: slow.alert_ids == [correction], what="the correction")
    assert [n.alerts[0].alert_id for _, n in slow.attempts] == [original, correction]
    (delivery,) = await store.deliveries(original)
    assert delivery.state == "failed"
    assert (delivery.last_error or "").startswith("retracted during a failed send")
    assert service.channel_states()["a"].queued == 0
