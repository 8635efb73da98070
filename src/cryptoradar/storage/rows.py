"""The row types every alert-store backend returns (they satisfy the `alerts.ports` row protocols)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from cryptoradar.events import Signal

SIGNAL_ENCODER = msgspec.json.Encoder()
SIGNAL_DECODER = msgspec.json.Decoder(Signal)
MATCHERS_DECODER = msgspec.json.Decoder(tuple[str, ...])


class StoredAlert(msgspec.Struct, frozen=True):
    id: int
    signature: str
    created_at_ns: int
    signal: Signal


class StoredPendingDelivery(msgspec.Struct, frozen=True):
    alert_id: int
    channel: str
    attempts: int
    created_at_ns: int
    signal: Signal
    rerouted_from: str | None = None
    reroute_reason: str | None = None
    """Why the delivery on `rerouted_from` failed (its last error), when this one replaces it."""


class StoredFailedDelivery(msgspec.Struct, frozen=True):
    alert_id: int
    channel: str
    reason: str
    signal: Signal
    rerouted_to: tuple[str, ...]
    """The channels that took this delivery over (empty: the alert did not reach a fallback from here)."""


class StoredDelivery(msgspec.Struct, frozen=True):
    channel: str
    state: str
    attempts: int
    last_error: str | None
    sent_at_ns: int | None


class StoredCooldown(msgspec.Struct, frozen=True):
    detector: str
    symbol: str
    kind: str
    last_event_ns: int
    until_ns: int
    last_entry_price: float | None
    last_direction: str


class StoredSilence(msgspec.Struct, frozen=True):
    id: int
    matchers: tuple[str, ...]
    until_ns: int
    created_by: str
    reason: str
    created_at_ns: int


def encode_matchers(matchers: tuple[str, ...]) -> str:
    return SIGNAL_ENCODER.encode(matchers).decode()


def list_alerts_query(
    placeholder: Callable[[int], str],
    *,
    detector: str | None,
    kind: str | None,
    symbol: str | None,
    severity: str | None,
    since_ns: int | None,
    before_id: int | None,
    limit: int,
) -> tuple[str, list[object]]:
    """The `list_alerts` SQL and its parameters; `placeholder(n)` spells the n-th (1-based) parameter."""
    clauses: list[str] = []
    params: list[object] = []
    for condition, value in (
        ("detector =", detector),
        ("type =", kind),
        ("symbol =", symbol),
        ("severity =", severity),
        ("created_at_ns >=", since_ns),
        ("id <", before_id),
    ):
        if value is not None:
            params.append(value)
            clauses.append(f"{condition} {placeholder(len(params))}")
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    params.append(max(0, limit))
    sql = f"SELECT id, signature, created_at_ns, payload FROM alerts{where} ORDER BY id DESC"
    return f"{sql} LIMIT {placeholder(len(params))}", params


PENDING_DELIVERIES_SQL = (
    "SELECT d.alert_id, d.channel, d.attempts, a.created_at_ns, a.payload, d.rerouted_from, o.last_error"
    " FROM deliveries d JOIN alerts a ON a.id = d.alert_id"
    " LEFT JOIN deliveries o ON o.alert_id = d.alert_id AND o.channel = d.rerouted_from"
    " WHERE d.state = 'pending' ORDER BY d.alert_id, d.id"
)
"""Every pending delivery with its alert and, for a rerouted one, the failed delivery's reason."""


def pending_delivery(row: Sequence[Any]) -> StoredPendingDelivery:
    """A row of `PENDING_DELIVERIES_SQL` (either backend)."""
    return StoredPendingDelivery(
        row[0], row[1], row[2], row[3], SIGNAL_DECODER.decode(row[4]), row[5], row[6]
    )


def rerouted_delivery(
    row: Sequence[Any], channel: str, rerouted_from: str, reason: str
) -> StoredPendingDelivery:
    """A delivery `fail_over` just made, from its (alert_id, created_at_ns, payload)."""
    return StoredPendingDelivery(
        row[0], channel, 0, row[1], SIGNAL_DECODER.decode(row[2]), rerouted_from, reason
    )


def failed_deliveries_sql(placeholder: str, concat: str) -> str:
    """Failed deliveries newest first, each with the channels that took it over (`concat` aggregates
    them comma-separated: group_concat in SQLite, string_agg in PostgreSQL)."""
    return (
        f"SELECT d.alert_id, d.channel, COALESCE(d.last_error, ''), a.payload,"
        f" (SELECT {concat}(f.channel, ',') FROM deliveries f"
        f"  WHERE f.alert_id = d.alert_id AND f.rerouted_from = d.channel)"
        f" FROM deliveries d JOIN alerts a ON a.id = d.alert_id WHERE d.state = 'failed'"
        f" ORDER BY d.id DESC LIMIT {placeholder}"
    )


def failed_delivery(row: Sequence[Any]) -> StoredFailedDelivery:
    rerouted = tuple(sorted(row[4].split(","))) if row[4] else ()
    return StoredFailedDelivery(row[0], row[1], row[2], SIGNAL_DECODER.decode(row[3]), rerouted)
