"""The row types every alert-store backend returns (they satisfy the `alerts.ports` row protocols)."""

from __future__ import annotations

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
