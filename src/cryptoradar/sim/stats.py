"""Counters the simulator keeps so tests can assert how a client behaved (limits, routing, faults)."""

from __future__ import annotations

from dataclasses import dataclass, field


def _violations() -> dict[str, int]:
    return {"stream_cap": 0, "control_rate": 0, "pong_timeout": 0, "connect_attempts": 0}


@dataclass(slots=True)
class MarketStats:
    """One market's counters. `rest_weight_by_minute` maps each exchange-clock minute (open ms) to weight used."""

    connections_opened: int = 0
    connections_open: int = 0
    subscriptions: int = 0
    """Streams currently subscribed, summed over open connections."""
    subscribe_requests: int = 0
    control_messages: int = 0
    frames_sent: int = 0
    misrouted: int = 0
    """Subscriptions ACKed on a route that never delivers them (USD-M /market stream on /public or un-routed)."""
    unknown_streams: int = 0
    max_streams_per_connection: int = 0
    connections_over_design_cap: int = 0
    pings_sent: int = 0
    connect_attempts: int = 0
    """WebSocket handshakes requested, refused ones included."""
    connect_attempts_peak: int = 0
    """Most attempts from one IP inside any connect window (compare with the limit)."""
    violations: dict[str, int] = field(default_factory=_violations)
    closes: dict[str, int] = field(default_factory=dict)
    """Server-initiated closes by reason: control_rate, stream_cap, pong_timeout, max_age, slow_consumer, fault.
    Handshakes refused for the connection-attempt limit never open, so they count only in `violations`."""
    rest_requests: int = 0
    rest_by_status: dict[int, int] = field(default_factory=dict)
    rest_weight_by_minute: dict[int, int] = field(default_factory=dict)
    rest_weight_peak_1m: int = 0
    faults: dict[str, int] = field(default_factory=dict)

    def count_close(self, reason: str) -> None:
        self.closes[reason] = self.closes.get(reason, 0) + 1

    def count_fault(self, kind: str, n: int = 1) -> None:
        self.faults[kind] = self.faults.get(kind, 0) + n


@dataclass(slots=True)
class SimStats:
    """Both markets' counters; the plain properties sum them."""

    spot: MarketStats = field(default_factory=MarketStats)
    futures: MarketStats = field(default_factory=MarketStats)

    @property
    def connections(self) -> int:
        return self.spot.connections_opened + self.futures.connections_opened

    @property
    def subscriptions(self) -> int:
        return self.spot.subscriptions + self.futures.subscriptions

    @property
    def violations(self) -> dict[str, int]:
        return {k: self.spot.violations[k] + self.futures.violations[k] for k in self.spot.violations}

    @property
    def rest_requests(self) -> int:
        return self.spot.rest_requests + self.futures.rest_requests

    @property
    def misrouted(self) -> int:
        return self.spot.misrouted + self.futures.misrouted

    @property
    def faults(self) -> dict[str, int]:
        out = dict(self.spot.faults)
        for kind, n in self.futures.faults.items():
            out[kind] = out.get(kind, 0) + n
        return out
