"""Readiness: pure checks over plain views, and `StandardHealth`, the usual `HealthSource`.

Ready means: every source has bootstrapped every series it subscribed to (a series whose bootstrap failed
counts as finished: it was warned about, and waiting on it would keep the service unready for good), every
upstream connection is CONNECTED, every series has a closed bar younger than `stale_after_intervals`
intervals, the store accepts a write, and no notification channel has failed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from cryptoradar.api.ports import AlertsView, Liveness, MarketView
from cryptoradar.api.views import (
    BootstrapView,
    ChannelView,
    Check,
    CheckName,
    ConnectionView,
    ReadinessReport,
    SymbolFreshness,
    SymbolView,
)
from cryptoradar.core.intervals import FIXED_INTERVAL_MS
from cryptoradar.events import ConnectionState

_MONTH_MS = 2_592_000_000
"""`1M` counts as 30 days: freshness only needs the order of magnitude."""
_LISTED_MAX = 10
"""Details name at most this many offenders, then a count: a 400-symbol outage stays readable."""

LivenessSource = Callable[[], Liveness]
StoreProbe = Callable[[], Awaitable[None]]
"""Performs a small write; raises when the store is not writable."""
BootstrapSource = Callable[[], Sequence[BootstrapView]]


def interval_ms(interval: str) -> int:
    """Binance interval notation ("1m", "4h", "1M" = 30 days) in milliseconds. Raises ValueError."""
    length = _MONTH_MS if interval == "1M" else FIXED_INTERVAL_MS.get(interval)
    if length is None:
        raise ValueError(f"not an interval: {interval!r} (expected like '1m', '4h', '1d')")
    return length


def symbol_views(series: Sequence[SymbolFreshness], stale_after_intervals: float) -> list[SymbolView]:
    """Marks each series stale when it has no bar yet or its newest bar is too old; stale ones first."""
    views = [
        SymbolView(
            s.market,
            s.symbol,
            s.interval,
            s.age_ms,
            s.age_ms is None or s.age_ms > stale_after_intervals * interval_ms(s.interval),
        )
        for s in series
    ]
    views.sort(key=lambda v: (not v.stale, v.market, v.symbol, v.interval))
    return views


def _listed(items: Sequence[str]) -> str:
    shown = ", ".join(items[:_LISTED_MAX])
    more = len(items) - _LISTED_MAX
    return f"{shown} and {more} more" if more > 0 else shown


def check_connections(connections: Sequence[ConnectionView]) -> Check:
    if not connections:
        return Check(CheckName.CONNECTIONS, False, "no upstream connection yet")
    down = [
        f"{c.source}/{c.connection_id} is {c.state}" + (f" ({c.detail})" if c.detail else "")
        for c in connections
        if c.state is not ConnectionState.CONNECTED
    ]
    if down:
        return Check(CheckName.CONNECTIONS, False, f"{len(down)} of {len(connections)} down: {_listed(down)}")
    return Check(CheckName.CONNECTIONS, True, f"{len(connections)} connected")


def check_freshness(symbols: Sequence[SymbolView]) -> Check:
    stale = [
        f"{s.market}:{s.symbol}@{s.interval} "
        + ("has no bar yet" if s.age_ms is None else f"{s.age_ms} ms old")
        for s in symbols
        if s.stale
    ]
    if stale:
        return Check(CheckName.FRESHNESS, False, f"{len(stale)} stale: {_listed(stale)}")
    return Check(CheckName.FRESHNESS, True, f"{len(symbols)} series fresh")


def check_bootstrap(progress: Sequence[BootstrapView]) -> Check:
    """Ready once every source has discovered its universe and bootstrapped all of it (joiners included)."""
    loading = [
        f"{p.source} {p.series_done} of {p.series_total} series"
        if p.discovered
        else f"{p.source} discovering"
        for p in progress
        if not p.discovered or p.series_done < p.series_total
    ]
    if loading:
        return Check(CheckName.BOOTSTRAP, False, f"bootstrapping: {_listed(loading)}")
    return Check(CheckName.BOOTSTRAP, True, f"{sum(p.series_total for p in progress)} series bootstrapped")


def check_channels(channels: Sequence[ChannelView]) -> Check:
    failed = [
        f"{c.channel} ({c.last_error})" if c.last_error else c.channel
        for c in channels
        if c.state == "failed"
    ]
    if failed:
        return Check(CheckName.CHANNELS, False, f"failed: {_listed(failed)}")
    return Check(CheckName.CHANNELS, True, f"{len(channels)} channels working")


async def check_store(probe: StoreProbe) -> Check:
    """Runs the probe; any exception means not writable (its type is shown, never its text, which
    could carry a connection string)."""
    try:
        await probe()
    except Exception as e:
        return Check(CheckName.STORE, False, f"write failed: {type(e).__name__}")
    return Check(CheckName.STORE, True, "writable")


class StandardHealth:
    """The usual `HealthSource`, built from the same views the API shows plus a store write probe."""

    def __init__(
        self,
        market: MarketView,
        alerts: AlertsView,
        store_probe: StoreProbe,
        stale_after_intervals: float,
        bootstrap: BootstrapSource | None = None,
        liveness: LivenessSource | None = None,
    ) -> None:
        self._market = market
        self._liveness = liveness
        self._bootstrap = bootstrap
        self._alerts = alerts
        self._store_probe = store_probe
        self._stale_after_intervals = stale_after_intervals

    def liveness(self) -> Liveness:
        return Liveness(True, "no liveness check") if self._liveness is None else self._liveness()

    async def readiness(self) -> ReadinessReport:
        bootstrap = [] if self._bootstrap is None else [check_bootstrap(self._bootstrap())]
        return ReadinessReport(
            [
                *bootstrap,
                check_connections(self._market.connections()),
                check_freshness(symbol_views(self._market.symbols(), self._stale_after_intervals)),
                await check_store(self._store_probe),
                check_channels(self._alerts.channels()),
            ]
        )
