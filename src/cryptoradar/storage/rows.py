"""The row types every alert-store backend returns (they satisfy the `alerts.ports` row protocols)."""

from __future__ import annotations

from collections.abc import Callable

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
