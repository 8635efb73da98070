"""In-memory implementations of the API ports (real objects holding data) and a running `ApiServer`."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from pydantic import SecretStr

from cryptoradar.api.live import LiveHub
from cryptoradar.api.ports import AlertQuery
from cryptoradar.api.readiness import StandardHealth
from cryptoradar.api.server import ApiServer
from cryptoradar.api.views import (
    AlertView,
    ChannelView,
    ConnectionView,
    FailedDeliveryView,
    SilenceView,
    SymbolFreshness,
)
from cryptoradar.config.api import ApiConfig
from cryptoradar.core.clock import ManualClock
from cryptoradar.events import Bar, Condition, ConnectionState, Direction, Market, Severity, Signal

NOW_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
MINUTE_MS = 60_000


def make_signal(
    symbol: str, detector: str = "momentum", ts_ms: int = NOW_MS, kind: str = "breakout"
) -> Signal:
    return Signal(
        detector=detector,
        rule_version=1,
        kind=kind,
        symbol=symbol,
        timeframe="1m",
        window_start_ms=ts_ms - MINUTE_MS,
        window_end_ms=ts_ms - 1,
        direction=Direction.BULLISH,
        severity=Severity.WARNING,
        conditions=(Condition("rsi", 71.5, ">", 70.0, True),),
        metrics={"entry": 100.5, "strength": 0.8},
        labels={"pattern": "breakout"},
        symbols=(symbol,),
        ts_event_ns=ts_ms * 1_000_000,
    )


def make_bar(symbol: str, open_ms: int, open_: float, close: float) -> Bar:
    return Bar(
        Market.SPOT, symbol, "1m", open_ms, open_ms + MINUTE_MS - 1,
        open_, max(open_, close) + 0.4, min(open_, close) - 0.4, close, 10.0, 1000.0, 42, 5.0, 500.0, True,
        (open_ms + MINUTE_MS) * 1_000_000, (open_ms + MINUTE_MS) * 1_000_000,
    )  # fmt: skip


def wave(i: int) -> float:
    """A deterministic price path with ups and downs."""
    return 100.0 + 3.0 * math.sin(i / 6.0) + 0.8 * math.sin(i * 1.7)


@dataclass
class FakeAlerts:
    """Alerts newest-last in `alerts`; silences keyed by id; channel states as given."""

    alerts: list[AlertView] = field(default_factory=list)
    silences: dict[int, SilenceView] = field(default_factory=dict)
    channel_views: list[ChannelView] = field(default_factory=list)
    clock_ms: int = NOW_MS
    _next_silence: int = 1

    def add_alert(self, signal: Signal, created_at_ms: int) -> AlertView:
        view = AlertView(len(self.alerts) + 1, created_at_ms, signal)
        self.alerts.append(view)
        return view

    async def list_alerts(self, query: AlertQuery) -> Sequence[AlertView]:
        found = [
            a
            for a in reversed(self.alerts)
            if (query.symbol is None or a.signal.symbol == query.symbol)
            and (query.detector is None or a.signal.detector == query.detector)
            and (query.since_ms is None or a.created_at_ms >= query.since_ms)
            and (query.until_ms is None or a.created_at_ms < query.until_ms)
            and (query.before_id is None or a.id < query.before_id)
        ]
        return found[: query.limit]

    async def add_silence(
        self, matchers: Sequence[str], *, until_ns: int, created_by: str, reason: str
    ) -> int:
        for matcher in matchers:
            name, sep, value = matcher.partition("=")
            if not sep or not name.isidentifier() or not value.startswith('"') or not value.endswith('"'):
                raise ValueError(f'cannot parse matcher {matcher!r}: expected name="value"')
        silence_id = self._next_silence
        self._next_silence += 1
        self.silences[silence_id] = SilenceView(
            silence_id, list(matchers), until_ns // 1_000_000, created_by, reason, self.clock_ms
        )
        return silence_id

    async def remove_silence(self, silence_id: int) -> bool:
        return self.silences.pop(silence_id, None) is not None

    async def list_silences(self) -> Sequence[SilenceView]:
        return list(self.silences.values())

    def channels(self) -> Sequence[ChannelView]:
        return self.channel_views

    async def failed_deliveries(self, limit: int) -> Sequence[FailedDeliveryView]:
        return []


@dataclass
class FakeMarket:
    freshness: list[SymbolFreshness] = field(default_factory=list)
    connection_views: list[ConnectionView] = field(default_factory=list)
    bars: dict[tuple[str, str], list[Bar]] = field(default_factory=dict)

    def symbols(self) -> Sequence[SymbolFreshness]:
        return self.freshness

    def connections(self) -> Sequence[ConnectionView]:
        return self.connection_views

    def recent_bars(self, symbol: str, interval: str, limit: int) -> Sequence[Bar]:
        return self.bars.get((symbol, interval), [])[-limit:]


@dataclass
class FakeStore:
    writable: bool = True
    probes: int = 0

    async def probe(self) -> None:
        self.probes += 1
        if not self.writable:
            raise PermissionError("read-only file system")


@dataclass
class Harness:
    server: ApiServer
    alerts: FakeAlerts
    market: FakeMarket
    store: FakeStore
    hub: LiveHub
    clock: ManualClock

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"


def healthy_fakes() -> tuple[FakeAlerts, FakeMarket]:
    """Two fresh series, two connected sockets, two working channels, 30 alerts over 30 minutes."""
    alerts = FakeAlerts(
        channel_views=[ChannelView("console", "active", sent=3), ChannelView("telegram", "active", sent=2)]
    )
    for i in range(30):
        symbol = "BTCUSDT" if i % 2 == 0 else "ETHUSDT"
        detector = "momentum" if i % 3 else "confluence"
        ts_ms = NOW_MS - (30 - i) * MINUTE_MS
        alerts.add_alert(make_signal(symbol, detector, ts_ms), ts_ms)
    market = FakeMarket(
        freshness=[
            SymbolFreshness("spot", "BTCUSDT", "1m", 30_000),
            SymbolFreshness("spot", "ETHUSDT", "1m", 45_000),
        ],
        connection_views=[
            ConnectionView("binance", "spot-0", ConnectionState.CONNECTED, streams=40, age_s=120.0),
            ConnectionView("binance", "usdm-0", ConnectionState.CONNECTED, streams=10, age_s=118.0),
        ],
        bars={
            ("BTCUSDT", "1m"): [
                make_bar("BTCUSDT", NOW_MS - (60 - i) * MINUTE_MS, wave(i), wave(i + 1)) for i in range(60)
            ]
        },
    )
    return alerts, market


@asynccontextmanager
async def running_api(
    *, token: str = "", secrets: Sequence[str] = (), alerts: FakeAlerts | None = None,
    market: FakeMarket | None = None, heartbeat_s: float = 15.0,
) -> AsyncIterator[Harness]:  # fmt: skip
    default_alerts, default_market = healthy_fakes()
    alerts = alerts or default_alerts
    market = market or default_market
    store = FakeStore()
    hub = LiveHub(queue_size=16)
    clock = ManualClock(NOW_MS * 1_000_000)
    config = ApiConfig(host="127.0.0.1", port=0, token=SecretStr(token), sse_heartbeat_s=heartbeat_s)
    server = ApiServer(
        config,
        health=StandardHealth(market, alerts, store.probe, config.stale_after_intervals),
        alerts=alerts,
        market=market,
        live=hub,
        clock=clock,
        secrets=secrets,
    )
    await server.start()
    try:
        yield Harness(server, alerts, market, store, hub, clock)
    finally:
        await server.stop()
        hub.close()
