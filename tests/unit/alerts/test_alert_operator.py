"""OperatorWatch: each incident announced once, its recovery once; pure, time from the inputs."""

from __future__ import annotations

from cryptoradar.alerts.operator import (
    IncidentKind,
    NoticeState,
    OperatorNotice,
    OperatorWatch,
    operator_signal,
)
from cryptoradar.events import ConnectionState, FeedStatus, Severity, StatusLevel

T0 = 1_767_225_600_000_000_000
S = 1_000_000_000
MIN = 60 * S


def status(
    at_ns: int,
    connection: str,
    state: ConnectionState,
    *,
    source: str = "binance-spot",
    level: StatusLevel = StatusLevel.INFO,
    reason: str = "",
) -> FeedStatus:
    return FeedStatus(source, connection, state, level, reason, at_ns, at_ns)


def watch(
    *, down_after_s: float = 300, store_failures_before_alert: int = 3, repeat_interval_s: float = 14400
) -> OperatorWatch:
    return OperatorWatch(
        connections_down_after_s=down_after_s,
        store_failures_before_alert=store_failures_before_alert,
        repeat_interval_s=repeat_interval_s,
    )


def kinds(notices: list[OperatorNotice]) -> list[tuple[IncidentKind, str, NoticeState]]:
    return [(n.kind, n.subject, n.state) for n in notices]


def test_all_connections_down_longer_than_threshold_opens_once_and_resolves_once() -> None:
    w = watch(down_after_s=300)
    assert w.on_status(status(T0, "c0", ConnectionState.CONNECTED)) == []
    assert w.on_status(status(T0, "c1", ConnectionState.CONNECTED)) == []
    assert w.on_status(status(T0 + 1 * S, "c0", ConnectionState.RECONNECTING)) == []
    assert w.poll(T0 + 10 * MIN) == []  # c1 is still up
    assert w.on_status(status(T0 + 2 * S, "c1", ConnectionState.RECONNECTING)) == []
    assert w.on_status(status(T0 + 3 * S, "c1", ConnectionState.CONNECTING)) == []
    assert w.poll(T0 + 2 * S + 299 * S) == []
    opened = w.poll(T0 + 2 * S + 300 * S)
    assert kinds(opened) == [(IncidentKind.CONNECTIONS_DOWN, "binance-spot", NoticeState.OPEN)]
    assert opened[0].since_ns == T0 + 2 * S
    assert "5.0 min" in opened[0].summary
    assert w.poll(T0 + 60 * MIN) == []  # once per incident
    resolved = w.on_status(status(T0 + 61 * MIN, "c1", ConnectionState.CONNECTED))
    assert kinds(resolved) == [(IncidentKind.CONNECTIONS_DOWN, "binance-spot", NoticeState.RESOLVED)]
    assert w.on_status(status(T0 + 62 * MIN, "c0", ConnectionState.CONNECTED)) == []
    assert w.open_incidents == []


def test_short_outage_raises_nothing_and_sources_are_separate() -> None:
    w = watch(down_after_s=300)
    w.on_status(status(T0, "c0", ConnectionState.CONNECTED))
    w.on_status(status(T0, "f0", ConnectionState.CONNECTED, source="binance-futures"))
    w.on_status(status(T0 + S, "c0", ConnectionState.RECONNECTING))
    w.on_status(status(T0 + 100 * S, "c0", ConnectionState.CONNECTED))
    assert w.poll(T0 + 20 * MIN) == []
    w.on_status(status(T0 + 21 * MIN, "f0", ConnectionState.FAILED, source="binance-futures"))
    assert kinds(w.poll(T0 + 26 * MIN)) == [
        (IncidentKind.CONNECTIONS_DOWN, "binance-futures", NoticeState.OPEN)
    ]


def test_a_source_that_never_connected_counts_as_down_but_rest_is_no_connection() -> None:
    w = watch(down_after_s=60)
    w.on_status(status(T0, "rest", ConnectionState.RECONNECTING, level=StatusLevel.WARNING))
    ban = "Binance spot REST IP ban (418): all REST paused for 120 s"
    rest = status(
        T0, "rest", ConnectionState.FAILED, source="binance-spot-rest", level=StatusLevel.OPERATOR, reason=ban
    )
    assert kinds(w.on_status(rest)) == [(IncidentKind.REST_BAN, "binance-spot-rest", NoticeState.OPEN)]
    assert w.poll(T0 + 60 * MIN) == []  # REST alone never makes a source "down"
    w.on_status(status(T0 + 60 * MIN, "c0", ConnectionState.CONNECTING))
    assert kinds(w.poll(T0 + 61 * MIN)) == [(IncidentKind.CONNECTIONS_DOWN, "binance-spot", NoticeState.OPEN)]


def test_every_rest_ban_is_one_notice_without_resolution() -> None:
    w = watch()
    ban = "Binance spot REST IP ban (418): all REST paused for 120 s"
    first = w.on_status(status(T0, "rest", ConnectionState.FAILED, level=StatusLevel.OPERATOR, reason=ban))
    assert kinds(first) == [(IncidentKind.REST_BAN, "binance-spot", NoticeState.OPEN)]
    assert first[0].detail == ban
    second = w.on_status(
        status(T0 + 30 * MIN, "rest", ConnectionState.FAILED, level=StatusLevel.OPERATOR, reason=ban)
    )
    assert kinds(second) == [(IncidentKind.REST_BAN, "binance-spot", NoticeState.OPEN)]
    assert (IncidentKind.REST_BAN, "binance-spot") not in w.open_incidents


def test_other_operator_status_opens_once_repeats_after_interval_and_resolves() -> None:
    w = watch(repeat_interval_s=3600)
    down = status(
        T0,
        "polygon-ws",
        ConnectionState.RECONNECTING,
        source="evm",
        level=StatusLevel.OPERATOR,
        reason="ws down",
    )
    assert kinds(w.on_status(down)) == [(IncidentKind.FEED_OPERATOR, "evm/polygon-ws", NoticeState.OPEN)]
    again = status(
        T0 + 10 * MIN, "polygon-ws", ConnectionState.FAILED, source="evm", level=StatusLevel.OPERATOR
    )
    assert w.on_status(again) == []
    later = status(
        T0 + 61 * MIN, "polygon-ws", ConnectionState.FAILED, source="evm", level=StatusLevel.OPERATOR
    )
    reminder = w.on_status(later)
    assert kinds(reminder) == [(IncidentKind.FEED_OPERATOR, "evm/polygon-ws", NoticeState.OPEN)]
    assert reminder[0].since_ns == T0
    up = w.on_status(status(T0 + 62 * MIN, "polygon-ws", ConnectionState.CONNECTED, source="evm"))
    assert kinds(up) == [(IncidentKind.FEED_OPERATOR, "evm/polygon-ws", NoticeState.RESOLVED)]
    assert "62.0 min" in up[0].detail


def test_channel_disabled_once() -> None:
    w = watch()
    assert kinds(w.on_channel_disabled("discord", "404 Unknown Webhook", T0)) == [
        (IncidentKind.CHANNEL_DISABLED, "discord", NoticeState.OPEN)
    ]
    assert w.on_channel_disabled("discord", "404 Unknown Webhook", T0 + S) == []
    assert len(w.on_channel_disabled("telegram", "403 blocked", T0 + S)) == 1


def test_store_unwritable_after_consecutive_failures_then_resolved() -> None:
    w = watch(store_failures_before_alert=3)
    assert w.on_store_error("locked", T0) == []
    assert w.on_store_ok(T0 + S) == []  # a single failure is not an incident
    assert w.on_store_error("locked", T0 + 2 * S) == []
    assert w.on_store_error("locked", T0 + 3 * S) == []
    opened = w.on_store_error("disk I/O error", T0 + 4 * S)
    assert kinds(opened) == [(IncidentKind.STORE_UNWRITABLE, "store", NoticeState.OPEN)]
    assert opened[0].since_ns == T0 + 2 * S
    assert "disk I/O error" in opened[0].detail
    assert w.on_store_error("disk I/O error", T0 + 5 * S) == []
    resolved = w.on_store_ok(T0 + 6 * S)
    assert kinds(resolved) == [(IncidentKind.STORE_UNWRITABLE, "store", NoticeState.RESOLVED)]
    assert w.on_store_ok(T0 + 7 * S) == []


def test_notice_renders_as_operator_signal() -> None:
    w = watch()
    (notice,) = w.on_channel_disabled("discord", "404", T0)
    signal = operator_signal(notice)
    assert (signal.detector, signal.kind, signal.symbol, signal.severity) == (
        "operator",
        "channel_disabled",
        "discord",
        Severity.CRITICAL,
    )
    assert signal.labels["state"] == "open"
