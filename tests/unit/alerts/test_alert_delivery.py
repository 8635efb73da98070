"""ChannelWorker on virtual time with a real SQLite outbox: outage, priority, limits, retry_after."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from signals import T0_NS, S, make_signal
from sinks import PacedSink, RecordingSink, permanent, retryable
from vtime import VirtualTime

from conftest import eventually
from cryptoradar.alerts.delivery import RETRACTED_BEFORE_DELIVERY, ChannelState, ChannelWorker
from cryptoradar.alerts.queue import QueuedDelivery
from cryptoradar.alerts.ratelimit import RateLimiter
from cryptoradar.alerts.render import Renderer
from cryptoradar.config.alerts import ChannelType, RateLimitWindow
from cryptoradar.core.backoff import Backoff
from cryptoradar.events import Severity
from cryptoradar.notifications import Notification
from cryptoradar.storage.sqlite import SqliteStore

RENDERER = Renderer()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(tmp_path / "alerts.db", synchronous="NORMAL")
    await s.open()
    yield s
    await s.close()


class Harness:
    def __init__(self, store: SqliteStore, sink: RecordingSink, vt: VirtualTime, limit_per_s: int) -> None:
        self.store, self.sink, self.vt = store, sink, vt
        self.disabled: list[tuple[str, str]] = []

        async def on_disabled(channel: str, error: str) -> None:
            self.disabled.append((channel, error))

        self.worker = ChannelWorker(
            sink,
            store,
            channel=sink.name,
            render=lambda signal, alert_id, ctx: RENDERER.render(signal, alert_id, ChannelType.WEBHOOK, ctx),
            clock=vt.clock,
            limiter=RateLimiter([RateLimitWindow(limit=limit_per_s, window_s=1)]),
            backoff=Backoff(1.0, 30.0, rng=random.Random(7)),
            on_disabled=on_disabled,
            max_batch=10,
            sleep=vt.sleep,
        )
        self.task = asyncio.create_task(self.worker.run())
        self.n = 0

    async def add(self, severity: Severity, *, group: str | None = None, group_wait_s: float = 0.0) -> int:
        self.n += 1
        signal = make_signal(symbol=f"S{self.n}USDT", at_ns=self.vt.clock.now_ns(), severity=severity)
        alert_id = await self.store.insert_alert(
            signal,
            signature=f"k{self.n}",
            channels=[self.sink.name],
            created_at_ns=self.vt.clock.now_ns(),
            cooldown_until_ns=None,
            entry_price=None,
        )
        assert alert_id is not None
        self.worker.enqueue(QueuedDelivery(alert_id, signal, (), group or f"g{alert_id}"), group_wait_s)
        return alert_id

    async def advance(self, seconds: float) -> None:
        await self.vt.advance(seconds, lambda: self.worker.idle)

    async def close(self) -> None:
        self.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self.task


async def test_outage_then_priority_order_within_limits(store: SqliteStore) -> None:
    vt = VirtualTime(T0_NS)
    outage_end_ns = T0_NS + 600 * S

    def fail(_: Notification) -> Exception | None:
        return retryable() if vt.clock.now_ns() < outage_end_ns else None

    sink = RecordingSink("hook", fail=fail, now_ns=vt.clock.now_ns)
    h = Harness(store, sink, vt, limit_per_s=2)
    severities = [
        Severity.INFO,
        Severity.WARNING,
        Severity.HIGH,
        Severity.INFO,
        Severity.CRITICAL,
        Severity.WARNING,
    ]
    ids = {await h.add(sev): sev for sev in severities[:3]}
    await h.advance(300)
    ids |= {await h.add(sev): sev for sev in severities[3:]}  # arrive mid-outage
    await h.advance(600)

    sent = [(t, n.alerts[0].alert_id) for t, n in sink.attempts if t >= outage_end_ns]
    assert [a for _, a in sent] == sink.alert_ids
    assert sorted(sink.alert_ids) == sorted(ids)  # everything, exactly once
    ranks = [ids[a].rank for a in sink.alert_ids]
    assert ranks == sorted(ranks, reverse=True)  # critical first, info last
    assert sink.alert_ids[0] == next(a for a, s in ids.items() if s is Severity.CRITICAL)
    times = [t for t, _ in sent]
    assert all(times[i + 2] - times[i] >= S for i in range(len(times) - 2))  # <= 2 per second
    failed_attempts = [t for t, _ in sink.attempts if t < outage_end_ns]
    assert failed_attempts
    assert max(failed_attempts) < outage_end_ns
    gaps = [b - a for a, b in itertools.pairwise(failed_attempts)]
    assert max(gaps) <= 30 * S  # capped backoff
    assert all(p.channel != "hook" for p in await store.pending_deliveries())
    for alert_id in ids:
        (delivery,) = await store.deliveries(alert_id)
        tries = sum(1 for _, n in sink.attempts if n.alerts[0].alert_id == alert_id)
        assert (delivery.state, delivery.attempts) == ("sent", tries)
    await h.close()


async def test_retry_after_is_honoured_exactly(store: SqliteStore) -> None:
    vt = VirtualTime(T0_NS)
    calls = 0

    def fail(_: Notification) -> Exception | None:
        nonlocal calls
        calls += 1
        return retryable(retry_after_s=7.5) if calls == 1 else None

    sink = RecordingSink("tg", fail=fail, now_ns=vt.clock.now_ns)
    h = Harness(store, sink, vt, limit_per_s=100)
    await h.add(Severity.HIGH)
    await h.advance(60)
    assert [t - T0_NS for t, _ in sink.attempts] == [0, int(7.5 * S)]
    assert h.worker.status().retries == 1
    assert h.worker.status().sent == 1
    await h.close()


async def test_the_remotes_announced_reset_is_waited_out_on_top_of_the_limiter(store: SqliteStore) -> None:
    vt = VirtualTime(T0_NS)
    sink = PacedSink("discord", pace_s=3.0, now_ns=vt.clock.now_ns)
    h = Harness(store, sink, vt, limit_per_s=100)  # the configured limit alone would send all at once
    ids = [await h.add(Severity.HIGH) for _ in range(3)]
    await h.advance(10)
    assert sink.alert_ids == ids
    assert [t - T0_NS for t, _ in sink.attempts] == [0, 3 * S, 6 * S]
    await h.close()


async def test_group_is_one_batch_split_by_pack(store: SqliteStore) -> None:
    vt = VirtualTime(T0_NS)
    sink = RecordingSink("mail", per_request=2, now_ns=vt.clock.now_ns)
    h = Harness(store, sink, vt, limit_per_s=100)
    ids = [await h.add(Severity.WARNING, group="same", group_wait_s=2.0)]
    await h.advance(1.5)
    assert sink.requests == []  # still inside group_wait
    ids += [await h.add(Severity.WARNING, group="same", group_wait_s=2.0) for _ in range(4)]
    other = await h.add(Severity.WARNING, group="other", group_wait_s=2.0)
    await h.advance(0.5)
    assert [len(n.alerts) for n in sink.requests] == [2, 2, 1]
    assert sink.alert_ids == ids
    assert all(t == T0_NS + 2 * S for t, _ in sink.attempts)
    await h.advance(2.0)
    assert sink.alert_ids == [*ids, other]
    await h.close()


async def test_a_group_larger_than_one_batch_still_takes_the_fewest_requests(store: SqliteStore) -> None:
    vt = VirtualTime(T0_NS)
    sink = RecordingSink("tg", per_request=4, now_ns=vt.clock.now_ns)
    h = Harness(store, sink, vt, limit_per_s=100)  # batches of 10: cut there, 25 alerts would take 8
    ids = [await h.add(Severity.WARNING, group="bar", group_wait_s=1.0) for _ in range(25)]
    await h.advance(2)
    assert sink.alert_ids == ids  # in order, each once
    assert [len(n.alerts) for n in sink.requests] == [4] * 6 + [1]
    await h.close()


async def test_permanent_error_fails_channel_and_pending(store: SqliteStore) -> None:
    vt = VirtualTime(T0_NS)
    sink = RecordingSink("discord", fail=lambda _: permanent(), now_ns=vt.clock.now_ns)
    h = Harness(store, sink, vt, limit_per_s=1)
    a1 = await h.add(Severity.INFO)
    a2 = await h.add(Severity.INFO)
    await eventually(lambda: h.task.done(), what="worker to stop on a permanent error")
    assert h.worker.status().state is ChannelState.FAILED
    assert h.disabled == [("discord", "404 Unknown Webhook")]
    assert len(sink.attempts) == 1
    assert [d.state for a in (a1, a2) for d in await store.deliveries(a)] == ["failed", "failed"]


async def test_alerts_retracted_while_waiting_for_a_rate_limit_slot_are_not_sent(store: SqliteStore) -> None:
    vt = VirtualTime(T0_NS)
    sink = RecordingSink("hook", per_request=2, now_ns=vt.clock.now_ns)
    h = Harness(store, sink, vt, limit_per_s=1)
    a1, a2, a3, a4, a5 = [await h.add(Severity.HIGH, group="g", group_wait_s=1.0) for _ in range(5)]
    await h.advance(1)  # [a1, a2] sent; [a3, a4] and [a5] wait for the limiter, taken from the queue
    assert sink.alert_ids == [a1, a2]
    assert h.worker.status().queued == 0

    assert await h.worker.retract(a3) is False
    assert await h.worker.retract(a5) is False
    assert await h.worker.retract(a1) is True  # sent already: not held, a correction must follow
    await h.advance(10)

    assert [[a.alert_id for a in n.alerts] for n in sink.requests] == [[a1, a2], [a4]]
    states = {a: (d.state, d.last_error) for a in (a1, a3, a4, a5) for d in await store.deliveries(a)}
    assert states == {
        a1: ("sent", None),
        a3: ("failed", RETRACTED_BEFORE_DELIVERY),
        a4: ("sent", None),
        a5: ("failed", RETRACTED_BEFORE_DELIVERY),
    }
    await h.close()
