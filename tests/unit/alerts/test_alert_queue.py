"""DeliveryQueue: group waits, priority across groups, batching inside a group."""

from __future__ import annotations

from signals import T0_NS, S, make_signal

from cryptoradar.alerts.queue import DeliveryQueue, QueuedDelivery
from cryptoradar.events import Severity


def item(alert_id: int, group: str, severity: Severity = Severity.INFO, at_ns: int = T0_NS) -> QueuedDelivery:
    return QueuedDelivery(alert_id, make_signal(severity=severity, at_ns=at_ns), (), group)


def test_group_wait_opens_with_first_alert_and_later_ones_join() -> None:
    q = DeliveryQueue(max_batch=10)
    q.add(item(1, "g"), T0_NS, 2 * S)
    q.add(item(2, "g"), T0_NS + S, 2 * S)  # joins the open window, not a new 2 s
    assert q.promote(T0_NS + S) == T0_NS + 2 * S
    assert not q.has_ready
    assert q.promote(T0_NS + 2 * S) is None
    assert [i.alert_id for i in q.take_batch()] == [1, 2]
    q.add(item(3, "g"), T0_NS + 3 * S, 2 * S)  # window closed: a new one opens
    assert q.promote(T0_NS + 3 * S) == T0_NS + 5 * S


def test_priority_across_groups_and_order_within() -> None:
    q = DeliveryQueue(max_batch=2)
    q.add(item(1, "a", Severity.INFO, T0_NS), T0_NS, 0)
    q.add(item(2, "b", Severity.WARNING, T0_NS + 1), T0_NS, 0)
    q.add(item(3, "a", Severity.CRITICAL, T0_NS + 2), T0_NS, 0)
    q.add(item(4, "b", Severity.WARNING, T0_NS), T0_NS, 0)
    q.add(item(5, "a", Severity.HIGH, T0_NS + 3), T0_NS, 0)
    batches = []
    while q.has_ready:
        batches.append([i.alert_id for i in q.take_batch()])
    # Group a holds the critical alert: it goes first, capped at 2; then b (warning) beats a's info.
    assert batches == [[3, 5], [4, 2], [1]]
    assert len(q) == 0


def test_requeue_flush_and_clear() -> None:
    q = DeliveryQueue(max_batch=5)
    q.add(item(1, "a"), T0_NS, 10 * S)
    q.flush()
    batch = q.take_batch()
    q.requeue(batch)
    assert [i.alert_id for i in q.take_batch()] == [1]
    q.add(item(2, "a"), T0_NS, 10 * S)
    q.add(item(3, "b"), T0_NS, 0)
    assert q.clear() == 2
    assert not q.has_ready
    assert len(q) == 0


def test_requeued_alerts_keep_their_place_among_equals() -> None:
    q = DeliveryQueue(max_batch=2)
    for alert_id in (1, 2, 3):
        q.add(item(alert_id, "bar"), T0_NS, 0)  # same group, severity and event time: arrival decides
    first = q.take_batch()
    assert [i.alert_id for i in first] == [1, 2]
    assert q.has_ready_in("bar")
    q.requeue(first[1:])
    assert [i.alert_id for i in q.take_batch()] == [2, 3]
    assert not q.has_ready_in("bar")


def test_remove_takes_out_a_waiting_or_ready_alert_and_keeps_the_order_of_the_rest() -> None:
    q = DeliveryQueue(max_batch=10)
    q.add(item(1, "waits"), T0_NS, 10 * S)
    q.add(item(2, "waits"), T0_NS, 10 * S)
    q.add(item(3, "a", Severity.CRITICAL), T0_NS, 0)  # the best of group a and of the queue
    q.add(item(4, "a", Severity.HIGH), T0_NS, 0)
    q.add(item(5, "a", Severity.INFO), T0_NS, 0)
    q.add(item(6, "alone", Severity.HIGH, T0_NS + 1), T0_NS, 0)
    assert [q.remove(alert_id) for alert_id in (2, 3, 5, 6)] == [True] * 4
    assert not q.remove(3)
    assert not q.remove(99)
    assert len(q) == 2
    assert [i.alert_id for i in q.take_batch()] == [4]  # group a's new best, found through the order
    assert not q.has_ready
    q.flush()
    assert [i.alert_id for i in q.take_batch()] == [1]
    assert len(q) == 0
