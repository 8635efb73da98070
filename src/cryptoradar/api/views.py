"""What the HTTP API shows: plain msgspec Structs, encoded as JSON as they are.

The app adapts the real services to these shapes (see `api.ports`); nothing here knows where the data
comes from. Times are int unix milliseconds on the wire (`*_ms`), which JavaScript handles exactly.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec

from cryptoradar.events import ConnectionState, Signal


class CheckName(StrEnum):
    CONNECTIONS = "connections"
    FRESHNESS = "freshness"
    STORE = "store"
    CHANNELS = "channels"
    BOOTSTRAP = "bootstrap"


class Check(msgspec.Struct, frozen=True):
    """One readiness condition; `detail` says what failed and where, in words an operator can act on."""

    name: str
    ok: bool
    detail: str = ""


class BootstrapView(msgspec.Struct, frozen=True):
    """How far one source has loaded the history of its series (REST bars before the live stream counts)."""

    source: str
    discovered: bool
    """Its first universe is known and that universe's bootstrap has finished."""
    series_done: int
    series_total: int


class ReadinessReport(msgspec.Struct, frozen=True):
    checks: list[Check]

    @property
    def ready(self) -> bool:
        return all(check.ok for check in self.checks)


class ReadinessView(msgspec.Struct, frozen=True):
    """The /readyz body."""

    ready: bool
    checks: list[Check]


class ConnectionView(msgspec.Struct, frozen=True):
    """One upstream connection (a WebSocket, an RPC endpoint)."""

    source: str
    connection_id: str
    state: ConnectionState
    streams: int = 0
    age_s: float = 0.0
    detail: str = ""


class SymbolFreshness(msgspec.Struct, frozen=True):
    """How old the newest closed bar of one series is; `age_ms` None means no bar yet."""

    market: str
    symbol: str
    interval: str
    age_ms: int | None


class SymbolView(SymbolFreshness, frozen=True):
    stale: bool


class ChannelView(msgspec.Struct, frozen=True):
    """One notification channel. `state` is "active", "backoff" or "failed"."""

    channel: str
    state: str
    queued: int = 0
    sent: int = 0
    retries: int = 0
    last_error: str = ""


class FailedDeliveryView(msgspec.Struct, frozen=True):
    """A delivery that failed, and the channels that took it over (channel failover); empty: none did."""

    alert_id: int
    symbol: str
    kind: str
    channel: str
    reason: str
    rerouted_to: list[str]


class AlertView(msgspec.Struct, frozen=True):
    id: int
    created_at_ms: int
    signal: Signal


class AlertPage(msgspec.Struct, frozen=True):
    items: list[AlertView]
    next_cursor: str | None
    """Pass as `cursor` to get the next (older) page; None on the last page."""


class SilenceView(msgspec.Struct, frozen=True):
    id: int
    matchers: list[str]
    until_ms: int
    created_by: str
    reason: str
    created_at_ms: int


class SilenceRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """POST /api/silences body. Matchers use Alertmanager syntax: `symbol="BTCUSDT"`, `detector=~"mom.*"`."""

    matchers: list[str]
    until_ms: int
    reason: str = ""
    created_by: str = "dashboard"


class SilenceCreated(msgspec.Struct, frozen=True):
    id: int


class CounterSample(msgspec.Struct, frozen=True):
    labels: dict[str, str]
    value: float


class StatsView(msgspec.Struct, frozen=True):
    """Counters the dashboard shows, read from the metrics registry."""

    signals: list[CounterSample]
    alerts: list[CounterSample]
    loop_lag_s: float
    rss_bytes: int
    uptime_s: float


class ErrorBody(msgspec.Struct, frozen=True):
    error: str
