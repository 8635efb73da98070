"""What the HTTP server needs from the rest of the app, as small Protocols the app adapts to.

The server never imports sources, alerts, detectors or storage (import-linter forbids it); `app.py`
passes objects that satisfy these. Every method is cheap or async; none may block the event loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import msgspec

from cryptoradar.api.views import (
    AlertView,
    ChannelView,
    ConnectionView,
    FailedDeliveryView,
    ReadinessReport,
    SilenceView,
    SymbolFreshness,
)
from cryptoradar.events import Bar


class AlertQuery(msgspec.Struct, frozen=True):
    """Filters of GET /api/alerts. Alerts are listed newest first; `before_id` is the keyset cursor."""

    limit: int
    symbol: str | None = None
    detector: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    before_id: int | None = None


class Liveness(msgspec.Struct, frozen=True):
    """What `/healthz` answers (503 when not alive): the process can still make progress."""

    alive: bool
    detail: str


class HealthSource(Protocol):
    def liveness(self) -> Liveness:
        """Cheap and synchronous: `/healthz` is probed often and must answer even when the store hangs."""
        ...

    async def readiness(self) -> ReadinessReport:
        """Every readiness check; `api.readiness` builds the usual ones from plain inputs."""
        ...


class AlertsView(Protocol):
    async def list_alerts(self, query: AlertQuery) -> Sequence[AlertView]:
        """At most `query.limit` alerts matching every filter, newest (highest id) first."""
        ...

    async def add_silence(
        self, matchers: Sequence[str], *, until_ns: int, created_by: str, reason: str
    ) -> int:
        """The new silence's id. Raises ValueError for a matcher that does not parse or an empty list."""
        ...

    async def remove_silence(self, silence_id: int) -> bool:
        """False when no such silence exists."""
        ...

    async def list_silences(self) -> Sequence[SilenceView]: ...

    def channels(self) -> Sequence[ChannelView]: ...

    async def failed_deliveries(self, limit: int) -> Sequence[FailedDeliveryView]:
        """The newest `limit` failed deliveries with where each was rerouted."""
        ...


class MarketView(Protocol):
    def symbols(self) -> Sequence[SymbolFreshness]: ...

    def connections(self) -> Sequence[ConnectionView]: ...

    def recent_bars(self, symbol: str, interval: str, limit: int) -> Sequence[Bar]:
        """Up to `limit` most recent closed bars, oldest first; empty for an unknown series."""
        ...


class LiveStream(Protocol):
    """Ready-to-send SSE frames; iteration ends when the feed closes."""

    def __aiter__(self) -> LiveStream: ...

    async def __anext__(self) -> bytes: ...

    def close(self) -> None:
        """Stop receiving; a pending or later `__anext__` ends the iteration. Idempotent."""
        ...


class LiveFeed(Protocol):
    """Satisfied by `api.live.LiveHub`."""

    def subscribe(self) -> LiveStream:
        """Registered before returning, so nothing published after the call is missed."""
        ...
