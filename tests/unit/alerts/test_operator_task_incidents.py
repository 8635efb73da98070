"""OperatorWatch's task and unhandled-error incidents: announced once, reminded only after the repeat
interval (so a task dying in a loop does not flood the operator), a recovery announced once."""

from __future__ import annotations

from test_alert_operator import MIN, T0, S, watch

from cryptoradar.alerts.operator import IncidentKind, NoticeState


def test_a_task_dying_in_a_loop_is_announced_once_per_repeat_interval_then_recovers_once() -> None:
    w = watch(repeat_interval_s=600)
    first = w.on_task_failed("radar:pipeline", "OperationalError('database is locked')", 0.5, T0)
    assert [(n.kind, n.subject, n.state) for n in first] == [
        (IncidentKind.TASK_FAILED, "radar:pipeline", NoticeState.OPEN)
    ]
    assert "restarting it in 0.5 s" in first[0].detail
    assert "database is locked" in first[0].detail
    again = [w.on_task_failed("radar:pipeline", "boom", 1.0, T0 + i * S) for i in range(1, 100)]
    assert all(n == [] for n in again), "deaths within the repeat interval are not announced again"
    reminder = w.on_task_failed("radar:pipeline", "boom", 30.0, T0 + 11 * MIN)
    assert [n.state for n in reminder] == [NoticeState.OPEN]
    assert reminder[0].since_ns == T0
    resolved = w.on_task_recovered("radar:pipeline", T0 + 20 * MIN)
    assert [(n.state, n.summary) for n in resolved] == [
        (NoticeState.RESOLVED, "task radar:pipeline running again")
    ]
    assert w.on_task_recovered("radar:pipeline", T0 + 21 * MIN) == []


def test_unhandled_errors_are_rate_limited_per_place_and_never_resolved() -> None:
    w = watch(repeat_interval_s=600)
    assert len(w.on_unhandled_error("pipeline", "KeyError('x')", T0)) == 1
    assert w.on_unhandled_error("pipeline", "KeyError('y')", T0 + S) == []
    assert len(w.on_unhandled_error("event loop", "RuntimeError()", T0 + S)) == 1, "each place on its own"
    assert (IncidentKind.UNHANDLED_ERROR, "pipeline") in w.open_incidents
