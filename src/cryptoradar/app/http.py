"""Adapters from the running services to the HTTP layer's ports (`api/ports.py`)."""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Callable, Iterator, Sequence

from cryptoradar.alerts.service import AlertFilter, AlertService, Page
from cryptoradar.api.ports import AlertQuery
from cryptoradar.api.readiness import StoreProbe
from cryptoradar.api.views import (
    AlertView,
    BootstrapView,
    ChannelView,
    ConnectionView,
    FailedDeliveryView,
    SilenceView,
    SymbolFreshness,
)
from cryptoradar.events import Bar, Market
from cryptoradar.sources.binance.feed import BinanceFeed
from cryptoradar.storage.factory import Store

_NS_PER_MS = 1_000_000


class AlertsAdapter:
    """`AlertsView` over the app's current `AlertService` (a reload may replace it)."""

    def __init__(self, service: Callable[[], AlertService]) -> None:
        self._current = service

    @property
    def _service(self) -> AlertService:
        return self._current()

    async def list_alerts(self, query: AlertQuery) -> Sequence[AlertView]:
        since_ns = query.since_ms * _NS_PER_MS if query.since_ms is not None else None
        rows = await self._service.list_alerts(
            AlertFilter(detector=query.detector, symbol=query.symbol, since_ns=since_ns),
            Page(limit=query.limit, before_id=query.before_id),
        )
        until_ns = query.until_ms * _NS_PER_MS if query.until_ms is not None else None
        return [
            AlertView(row.id, row.created_at_ns // _NS_PER_MS, row.signal)
            for row in rows
            if until_ns is None or row.created_at_ns <= until_ns
        ]

    async def add_silence(
        self, matchers: Sequence[str], *, until_ns: int, created_by: str, reason: str
    ) -> int:
        return await self._service.add_silence(
            matchers, until_ns=until_ns, created_by=created_by, reason=reason
        )

    async def remove_silence(self, silence_id: int) -> bool:
        return await self._service.remove_silence(silence_id)

    async def list_silences(self) -> Sequence[SilenceView]:
        return [
            SilenceView(
                s.id,
                list(s.matchers),
                s.until_ns // _NS_PER_MS,
                s.created_by,
                s.reason,
                s.created_at_ns // _NS_PER_MS,
            )
            for s in await self._service.list_silences()
        ]

    def channels(self) -> Sequence[ChannelView]:
        return [
            ChannelView(s.channel, str(s.state), s.queued, s.sent, s.retries, s.last_error)
            for s in self._service.channel_states().values()
        ]

    async def failed_deliveries(self, limit: int) -> Sequence[FailedDeliveryView]:
        return [
            FailedDeliveryView(
                r.alert_id, r.signal.symbol, r.signal.kind, r.channel, r.reason, list(r.rerouted_to)
            )
            for r in await self._service.failed_deliveries(limit)
        ]


_MARKETS = tuple(Market)
_PACKED_BAR = struct.Struct("<BqqddddddqddqqB")
"""A kept bar's fields other than symbol and interval (the series key), packed: ~140 bytes a bar instead of
~520 for a `Bar` with its boxed floats. 4,000 series x 120 bars is the difference between ~55 and ~240 MiB."""


def _pack(bar: Bar) -> bytes:
    return _PACKED_BAR.pack(
        _MARKETS.index(bar.market), bar.open_time_ms, bar.close_time_ms, bar.open, bar.high, bar.low, bar.close,
        bar.volume, bar.quote_volume, bar.trades, bar.taker_buy_volume, bar.taker_buy_quote_volume,
        bar.ts_event_ns, bar.ts_recv_ns, bar.closed,
    )  # fmt: skip


def _unpack(symbol: str, interval: str, packed: bytes) -> Bar:
    m, open_ms, close_ms, o, h, lo, c, v, qv, trades, tbv, tbqv, event_ns, recv_ns, closed = (
        _PACKED_BAR.unpack(packed)
    )
    return Bar(_MARKETS[m], symbol, interval, open_ms, close_ms, o, h, lo, c, v, qv, trades, tbv, tbqv, bool(closed),
               event_ns, recv_ns)  # fmt: skip


class RecentBars:
    """The last `per_series` closed bars of every series, for the dashboard chart (bounded memory, packed)."""

    def __init__(self, per_series: int) -> None:
        self._per_series = per_series
        self._bars: dict[tuple[str, str], deque[bytes]] = {}

    def add(self, bar: Bar) -> None:
        key = (bar.symbol, bar.interval)
        series = self._bars.get(key)
        if series is None:
            series = self._bars[key] = deque(maxlen=self._per_series)
        series.append(_pack(bar))

    def history(self) -> Iterator[Bar]:
        """Every kept bar, oldest close first across series (to warm a rebuilt detector)."""
        bars = [
            _unpack(symbol, interval, p) for (symbol, interval), series in self._bars.items() for p in series
        ]
        bars.sort(key=lambda b: (b.close_time_ms, b.ts_event_ns))
        return iter(bars)

    def latest(self, symbol: str, interval: str, limit: int) -> Sequence[Bar]:
        series = self._bars.get((symbol, interval))
        if not series or limit <= 0:
            return []
        return [_unpack(symbol, interval, p) for p in list(series)[-limit:]]


class MarketAdapter:
    """`MarketView` over the Binance feed's state and the recent-bar buffer."""

    def __init__(self, feed: BinanceFeed, bars: RecentBars) -> None:
        self._feed = feed
        self._bars = bars

    def symbols(self) -> Sequence[SymbolFreshness]:
        out: list[SymbolFreshness] = []
        for market in self._feed.state().markets:
            interval = self._feed.market(market.market).intervals
            if not interval:
                continue
            for symbol, age_ms in market.last_bar_age_ms.items():
                out.append(SymbolFreshness(str(market.market), symbol, interval[0], age_ms))
        return out

    def bootstrap(self) -> Sequence[BootstrapView]:
        return [
            BootstrapView(f"binance-{m.market}", m.bootstrapped, m.bootstrap_done, m.bootstrap_total)
            for m in self._feed.state().markets
        ]

    def connections(self) -> Sequence[ConnectionView]:
        return [
            ConnectionView(
                f"binance-{market.market}",
                conn.connection_id,
                conn.state,
                conn.streams,
                conn.age_s,
                f"route {conn.route}" + (", replacing" if conn.replacing else ""),
            )
            for market in self._feed.state().markets
            for conn in market.connections
        ]

    def recent_bars(self, symbol: str, interval: str, limit: int) -> Sequence[Bar]:
        return self._bars.latest(symbol, interval, limit)


def store_probe(store: Store, on_result: Callable[[Exception | None], None]) -> StoreProbe:
    """A readiness probe that really writes: an unwritable disk shows up as not ready, and every outcome
    goes to `on_result` (the alert service's operator desk turns repeated failures into an incident)."""

    async def probe() -> None:
        try:
            await store.set_state("health_probe", "ok")
        except Exception as e:
            on_result(e)
            raise
        on_result(None)

    return probe
