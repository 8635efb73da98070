"""`BinanceFeed`: the facade wiring universe, REST, stream pool and bar closer into one event source.

Usage: `feed = BinanceFeed(settings.binance, settings.universe, clock, emit=handle)` then
`await feed.start()` ... `await feed.stop()`; or without `emit`, `async for event in feed`.

Per market (spot, and USD-M if `universe.futures`) one supervised task runs:

1. discover: sync the exchange clock, exchangeInfo (+ 24 h tickers on spot) -> universe. Failures are
   retried with backoff and reported as an operator-level FeedStatus ("Binance unreachable"); the feed
   never raises because the exchange is away.
2. subscribe the universe's streams on the pool (connect + SUBSCRIBE first; live bars are held by the
   bar closer until their series is anchored), then bootstrap `bootstrap_bars` closed bars per
   (symbol, interval) from REST with bounded concurrency (series with a persisted last-closed time are
   anchored from it instead and gap-filled).
3. run: every `bar_check_s` the gap filler fetches overdue bars; the universe is recomputed from live
   mini tickers every min(`refresh_s`, 60 s) and refreshed from REST (exchangeInfo + 24 h tickers) every
   `refresh_s`, and early (at most every `early_refresh_min_gap_s`) when the streams hint at a change: a
   mini ticker for a symbol exchangeInfo does not know (a new listing), or a kline/mark-price stream gone
   silent on a live connection (a halted or delisted symbol). Joiners are subscribed and bootstrapped (a
   new listing with no closed bar yet starts at its first full bar), leavers unsubscribed and forgotten,
   all live on the running connections; the clock offset is re-synced every `time_sync_s`.

Events go through one `BoundedEventQueue`: closed bars, liquidations and FeedStatus never drop; the rest
may drop oldest.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import msgspec
import structlog
from rich.console import Console
from rich.progress import Progress, TaskID

from cryptoradar.config.binance import BinanceConfig, MarketEndpoints, UniverseConfig
from cryptoradar.core.backoff import Backoff
from cryptoradar.core.clock import Clock
from cryptoradar.core.errors import PermanentError, RetryableError
from cryptoradar.core.logging import LogOncePerKind
from cryptoradar.core.supervisor import TaskSupervisor
from cryptoradar.events import (
    Bar,
    ConnectionState,
    Event,
    FeedStatus,
    Liquidation,
    Market,
    StatusLevel,
    Ticker,
)
from cryptoradar.sources.base import TokenBucket
from cryptoradar.sources.binance.bars import (
    REST_FINAL_MARGIN_MS,
    BarCloser,
    GapFiller,
    bucket_open_ms,
    next_open_ms,
)
from cryptoradar.sources.binance.parse import ITEMS_SKIPPED
from cryptoradar.sources.binance.pool import (
    ConnectionInfo,
    EventSink,
    FrameTap,
    PooledConnection,
    PoolSettings,
    StreamPool,
)
from cryptoradar.sources.binance.rest import BinanceRest, RestSettings, ServerClock
from cryptoradar.sources.binance.universe import FuturesUniverse, SpotUniverse, UniverseChange
from cryptoradar.sources.queue import BoundedEventQueue, Overflow

__all__ = [
    "BinanceFeed",
    "FeedState",
    "MarketFeed",
    "MarketState",
    "ProgressCallback",
    "SeriesKey",
    "rich_bootstrap_progress",
]

log = structlog.get_logger(__name__)

SeriesKey = tuple[Market, str, str]
"""(market, symbol, interval): the key of persisted last-closed open times."""
ProgressCallback = Callable[[Market, int, int], None]
"""(market, series done, series total) during bootstrap; the CLI draws a progress bar with it."""


@contextmanager
def rich_bootstrap_progress(console: Console | None = None) -> Iterator[ProgressCallback]:
    """A rich progress bar per market for the CLI: pass the yielded callback as `progress=` and keep the
    block open until `wait_bootstrapped()` returns. After the block the callback does nothing, so later
    bootstraps (symbols joining the universe) draw no stale bar. Tests pass no callback and draw nothing."""
    open_ = True
    with Progress(console=console, transient=True) as bar:
        tasks: dict[Market, TaskID] = {}

        def update(market: Market, done: int, total: int) -> None:
            if not open_:
                return
            if market not in tasks:
                tasks[market] = bar.add_task(f"bootstrap {market.value} bars", total=total)
            bar.update(tasks[market], completed=done, total=total)

        try:
            yield update
        finally:
            open_ = False


class MarketState(msgspec.Struct, frozen=True):
    market: Market
    symbols: int
    streams: int
    connections: list[ConnectionInfo]
    rest_weight_used: int
    """REST weight counted in the current exchange-clock minute."""
    rest_banned: bool
    bars_closed: int
    bars_held: int
    last_bar_age_ms: dict[str, int]
    """Per symbol: exchange ms since the close of its newest closed bar (smallest interval)."""
    bootstrapped: bool = False
    """The first universe is discovered and every one of its series bootstrapped."""
    bootstrap_done: int = 0
    """Series whose bootstrap finished (anchored, or failed with a warning) of `bootstrap_total` begun."""
    bootstrap_total: int = 0


class FeedState(msgspec.Struct, frozen=True):
    markets: list[MarketState]
    queue_depth: int
    queue_dropped: int


@dataclass
class MarketFeed:
    market: Market
    endpoints: MarketEndpoints
    intervals: tuple[str, ...]
    rest: BinanceRest
    pool: StreamPool
    closer: BarCloser
    filler: GapFiller
    symbols: frozenset[str] = frozenset()
    discovered: asyncio.Event = field(default_factory=asyncio.Event)
    bootstrapped: asyncio.Event = field(default_factory=asyncio.Event)
    refresh_wanted: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the streams hint at a universe change; the run loop refreshes from REST early."""
    refreshes: int = 0
    bootstrap_done: int = 0
    bootstrap_total: int = 0


class BinanceFeed:
    """See the module docstring. `state()` is cheap and safe to call from the health API."""

    def __init__(
        self,
        binance: BinanceConfig,
        universe: UniverseConfig,
        clock: Clock,
        emit: Callable[[Event], None] | None = None,
        *,
        progress: ProgressCallback | None = None,
        last_closed: Mapping[SeriesKey, int] | None = None,
        frame_tap: FrameTap | None = None,
    ) -> None:
        self.config = binance
        self.universe_config = universe
        self.clock = clock
        self._emit = emit
        self._progress = progress
        self._initial = dict(last_closed or {})
        self._frame_tap = frame_tap
        self.queue: BoundedEventQueue[Event] = BoundedEventQueue("binance", binance.queue_size)
        self._supervisor = TaskSupervisor("binance")
        self._delivery: asyncio.Task[None] | None = None
        # One limiter for every connection of both markets: the attempt cap is per IP, and futures does not
        # state its own, so the spot cap bounds the sum.
        self._connect_limiter = TokenBucket.at_most(binance.connect_attempts_per_5min, 300.0)
        self._spot_universe = SpotUniverse(universe)
        self._futures_universe = FuturesUniverse(universe)
        self._markets: dict[Market, MarketFeed] = {Market.SPOT: self._build(Market.SPOT)}
        if universe.futures:
            self._markets[Market.USDM] = self._build(Market.USDM)

    # --- public API --------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start every market in the background; returns at once (discovery may take a while)."""
        for feed in self._markets.values():
            await feed.rest.start()
            await feed.pool.start()
            self._supervisor.start(self._run_market(feed), f"{feed.market}:run")
        if self._emit is not None:
            self._delivery = asyncio.create_task(self._deliver(self._emit), name="binance:deliver")

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the producers (each within `timeout_s`), then hand whatever is still queued to `emit`.

        Draining matters for exactly-once across restarts: a closed bar counted in `last_closed_map()`
        must have reached the consumer before the app persists that map.
        """
        await self._supervisor.stop(timeout_s)
        for feed in self._markets.values():
            await feed.filler.stop()
            await feed.pool.stop(timeout_s)
            await feed.rest.close()
        delivery, self._delivery = self._delivery, None
        if delivery is not None and self._emit is not None:
            delivery.cancel()
            await asyncio.gather(delivery, return_exceptions=True)
            while len(self.queue):  # producers are stopped: hand over the rest synchronously
                self._emit_one(self._emit, self.queue.get_nowait())

    async def wait_bootstrapped(self) -> None:
        """Until every market has discovered its universe and bootstrapped its series."""
        await asyncio.gather(*(feed.bootstrapped.wait() for feed in self._markets.values()))

    def __aiter__(self) -> BinanceFeed:
        return self

    async def __anext__(self) -> Event:
        return await self.queue.get()

    def market(self, market: Market) -> MarketFeed:
        return self._markets[market]

    def last_closed_map(self) -> dict[SeriesKey, int]:
        """Open time of the last closed bar per series, for the app to persist."""
        return {
            (m, symbol, interval): open_ms
            for m, feed in self._markets.items()
            for (symbol, interval), open_ms in feed.closer.last_closed_map().items()
        }

    def state(self) -> FeedState:
        markets = []
        for feed in self._markets.values():
            now_ms = feed.rest.server.now_ms()
            ages: dict[str, int] = {}
            if feed.intervals:
                smallest = feed.intervals[0]
                for symbol in feed.symbols:
                    last = feed.closer.last_closed(symbol, smallest)
                    if last is not None:
                        ages[symbol] = now_ms - next_open_ms(smallest, last)  # since its close
            markets.append(
                MarketState(
                    feed.market,
                    len(feed.symbols),
                    len(feed.pool.streams),
                    feed.pool.info(),
                    feed.rest.gate.used_this_minute(),
                    feed.rest.banned_until_s > asyncio.get_running_loop().time(),
                    feed.closer.emitted_closed,
                    feed.closer.held_count(),
                    ages,
                    feed.bootstrapped.is_set(),
                    feed.bootstrap_done,
                    feed.bootstrap_total,
                )
            )
        return FeedState(markets, len(self.queue), self.queue.dropped)

    # --- wiring ------------------------------------------------------------------------------------

    def _build(self, market: Market) -> MarketFeed:
        cfg = self.config
        endpoints = cfg.spot if market is Market.SPOT else cfg.futures
        intervals = cfg.spot_intervals if market is Market.SPOT else cfg.futures_intervals
        rest = BinanceRest(
            RestSettings(market, endpoints.rest_url, endpoints.weight_budget_per_min),
            self.clock,
            self._publish_status,
        )
        pool_settings = PoolSettings(
            market=market,
            ws_url=endpoints.ws_url,
            streams_per_connection=endpoints.streams_per_connection,
            control_messages_per_s=endpoints.control_messages_per_s,
            stale_after_s=cfg.stale_after_s,
            max_connection_age_s=cfg.max_connection_age_s,
            client_ping_interval_s=cfg.client_ping_interval_s,
            backoff_initial_s=cfg.reconnect_initial_s,
            backoff_max_s=cfg.reconnect_max_s,
        )
        closer = BarCloser(
            market,
            close_grace_ms=cfg.close_grace_ms,
            initial={(s, i): t for (m, s, i), t in self._initial.items() if m is market},
        )
        pool = StreamPool(
            pool_settings,
            clock=self.clock,
            connect_limiter=self._connect_limiter,
            sink=self._make_sink(market, closer, rest.server),
            publish_status=self._publish_status,
            on_connected=self._on_connected,
            on_silent=lambda names: self._request_refresh(market, "silent_streams", len(names)),
            frame_tap=self._frame_tap,
        )
        filler = GapFiller(
            closer,
            rest.klines_range,
            rest.server.now_ms,
            self._put_closed_bar,
            max_concurrency=cfg.rest_concurrency,
            refetch_after_s=cfg.refetch_after_s,
        )
        return MarketFeed(market, endpoints, intervals, rest, pool, closer, filler)

    def _make_sink(self, market: Market, closer: BarCloser, server: ServerClock) -> EventSink:
        queue = self.queue
        spot_universe = self._spot_universe if market is Market.SPOT else None
        foreign_log = LogOncePerKind()

        async def sink(events: list[Event]) -> None:
            for event in events:
                if isinstance(event, Bar):
                    if event.symbol not in self._markets[market].symbols:
                        # Only a broken or hostile peer sends a kline of a symbol we did not subscribe to:
                        # it must not open a bar series (memory) nor reach the detectors.
                        ITEMS_SKIPPED.labels(market.value, "foreign_symbol").inc()
                        if foreign_log.should_log("foreign_symbol"):
                            log.warning("binance_bar_of_foreign_symbol", market=market, symbol=event.symbol)
                        continue
                    server.observe_event_ms(event.ts_event_ns // 1_000_000)
                    for out in closer.on_stream_bar(event):
                        if out.closed:
                            await self._put_kept(out)
                        else:
                            queue.put_nowait(out, Overflow.DROP_OLDEST)
                elif isinstance(event, Liquidation):
                    await self._put_kept(event)
                else:
                    if (
                        spot_universe is not None
                        and isinstance(event, Ticker)
                        and spot_universe.on_ticker(event)
                    ):
                        self._request_refresh(market, "unknown_symbol", 1)
                    queue.put_nowait(event, Overflow.DROP_OLDEST)

        return sink

    async def _put_kept(self, event: Event) -> None:
        if not self.queue.put_nowait(event, Overflow.NEVER_DROP):
            await self.queue.put(event, Overflow.NEVER_DROP)

    def _put_closed_bar(self, bar: Bar) -> None:
        self._put_never_drop_sync(bar)

    def _publish_status(self, status: FeedStatus) -> None:
        self._put_never_drop_sync(status)

    def _put_never_drop_sync(self, event: Event) -> None:
        """From synchronous callers: at the hard ceiling, hand the put to a task rather than lose it."""
        if not self.queue.put_nowait(event, Overflow.NEVER_DROP):
            self._supervisor.start(self.queue.put(event, Overflow.NEVER_DROP), "queue-put")

    def _request_refresh(self, market: Market, reason: str, symbols: int) -> None:
        """A stream hints at a universe change: have the market's run loop refresh from REST soon."""
        feed = self._markets.get(market)
        if feed is not None and not feed.refresh_wanted.is_set():
            log.info("universe_refresh_requested", market=market, reason=reason, streams=symbols)
            feed.refresh_wanted.set()

    def _on_connected(self, conn: PooledConnection) -> None:
        """After any (re)connect: fetch whatever closed while the connection was down."""
        self._markets[conn.pool.settings.market].filler.check()

    async def _deliver(self, emit: Callable[[Event], None]) -> None:
        while True:
            self._emit_one(emit, await self.queue.get())

    @staticmethod
    def _emit_one(emit: Callable[[Event], None], event: Event) -> None:
        try:
            emit(event)
        except Exception as e:  # a failing consumer must not stop the feed
            log.error("emit_failed", error=repr(e))

    # --- the market lifecycle ----------------------------------------------------------------------

    async def _run_market(self, feed: MarketFeed) -> None:
        await self._retry_until_done(feed, "discover", lambda: self._discover(feed))
        feed.pool.set_streams(self._streams(feed.market, feed.symbols))
        await self._bootstrap(feed, feed.symbols)
        feed.bootstrapped.set()
        self._supervisor.start(self._check_bars(feed), f"{feed.market}:bars")
        loop = asyncio.get_running_loop()
        ucfg = self.universe_config
        last_refresh_s = loop.time()
        next_sync_s = loop.time() + self.config.time_sync_s
        recompute_s = min(ucfg.refresh_s, 60.0)
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(recompute_s):
                    await feed.refresh_wanted.wait()
            early = feed.refresh_wanted.is_set()
            if early:  # hints can come in bursts (many silent streams): at most one early refresh per gap
                await asyncio.sleep(max(0.0, last_refresh_s + ucfg.early_refresh_min_gap_s - loop.time()))
                feed.refresh_wanted.clear()
            try:
                if loop.time() >= next_sync_s:
                    next_sync_s = loop.time() + self.config.time_sync_s
                    await feed.rest.sync_time()
                if early or loop.time() >= last_refresh_s + ucfg.refresh_s:
                    last_refresh_s = loop.time()
                    change = await self._refresh_universe(feed)
                elif feed.market is Market.SPOT:
                    change = self._spot_universe.recompute()
                else:
                    change = UniverseChange(frozenset(), frozenset())
            except (RetryableError, PermanentError) as e:
                log.warning("universe_refresh_failed", market=feed.market, error=str(e))
                continue
            if change:
                await self._apply_change(feed, change)

    async def _retry_until_done(
        self, feed: MarketFeed, what: str, step: Callable[[], Awaitable[None]]
    ) -> None:
        backoff = Backoff(self.config.reconnect_initial_s, self.config.reconnect_max_s)
        while True:
            try:
                await step()
                return
            except (RetryableError, PermanentError) as e:
                hint_s = (e.retry_after_s or 0.0) if isinstance(e, RetryableError) else 0.0
                delay_s = max(backoff.next_delay_s(), hint_s)
                reason = f"Binance unreachable ({feed.market} {what}): {e}; retrying in {delay_s:.1f} s"
                log.warning("binance_unreachable", market=feed.market, step=what, error=str(e))
                now_ns = self.clock.now_ns()
                self._publish_status(
                    FeedStatus(
                        f"binance-{feed.market}", "rest", ConnectionState.RECONNECTING,
                        StatusLevel.OPERATOR if backoff.attempts >= 3 else StatusLevel.WARNING,
                        reason, now_ns, now_ns,
                    )
                )  # fmt: skip
                await asyncio.sleep(delay_s)

    async def _discover(self, feed: MarketFeed) -> None:
        await feed.rest.sync_time()
        await self._refresh_universe(feed)
        feed.discovered.set()

    async def _refresh_universe(self, feed: MarketFeed) -> UniverseChange:
        feed.refreshes += 1
        info = await feed.rest.exchange_info()
        if feed.market is Market.SPOT:
            self._spot_universe.set_exchange_info(info)
            self._spot_universe.set_tickers(await feed.rest.tickers_24h())
            change = self._spot_universe.recompute()
        else:
            change = self._futures_universe.update(info)
        if not feed.discovered.is_set():
            feed.symbols = (
                self._spot_universe.symbols if feed.market is Market.SPOT else self._futures_universe.symbols
            )
        return change

    async def _apply_change(self, feed: MarketFeed, change: UniverseChange) -> None:
        log.info("universe_changed", market=feed.market, joined=len(change.joined), left=len(change.left))
        feed.symbols = (feed.symbols | change.joined) - change.left
        for symbol in change.left:
            for interval in feed.intervals:
                feed.filler.forget(symbol, interval)
                feed.closer.forget(symbol, interval)
        feed.pool.set_streams(self._streams(feed.market, feed.symbols))
        await self._bootstrap(feed, change.joined)

    def _streams(self, market: Market, symbols: frozenset[str]) -> list[str]:
        cfg = self.config
        names: list[str] = []
        per_symbol: tuple[str, ...] = ()
        if market is Market.SPOT:
            intervals, per_symbol, all_market = cfg.spot_intervals, (), cfg.spot_all_market_streams
        else:
            intervals, per_symbol, all_market = (
                cfg.futures_intervals,
                cfg.futures_symbol_streams,
                cfg.futures_all_market_streams,
            )
        for symbol in symbols:
            lower = symbol.lower()
            names.extend(f"{lower}@kline_{i}" for i in intervals)
            names.extend(f"{lower}@{s}" for s in per_symbol)
        names.extend(all_market)
        return names

    async def _bootstrap(self, feed: MarketFeed, symbols: frozenset[str]) -> None:
        """Anchor every (symbol, interval) series: from the persisted map, else the last N REST bars."""
        todo = [(s, i) for s in sorted(symbols) for i in feed.intervals if not feed.closer.is_anchored(s, i)]
        total, done = len(todo), 0
        feed.bootstrap_total += total
        sem = asyncio.Semaphore(self.config.rest_concurrency)
        bars = max(1, self.config.bootstrap_bars)

        async def one(symbol: str, interval: str) -> None:
            nonlocal done
            async with sem:
                while True:
                    # Finality is judged at the request's start: the server answered no earlier than that.
                    requested_at_ms = feed.rest.server.now_ms()
                    try:
                        rows = await feed.rest.recent_klines(symbol, interval, bars)
                        break
                    except RetryableError as e:
                        await asyncio.sleep(max(0.5, e.retry_after_s or 0.0))
                    except PermanentError as e:
                        log.warning("bootstrap_failed", symbol=symbol, interval=interval, error=str(e))
                        feed.bootstrap_done += 1  # finished: readiness must not wait for it forever
                        return
            bars_out = feed.closer.on_rest_bars(symbol, interval, rows, requested_at_ms)
            if not feed.closer.is_anchored(symbol, interval):
                # No closed bar yet: a new listing. Its series starts at the bar REST shows in progress, or,
                # if REST shows none (nothing traded yet), after the bar in progress now: the first full bar.
                # "Now" is taken a margin early: our clock estimate may run ahead of the server's.
                first_ms = min((b.open_time_ms for b in rows), default=None)
                before_ms = first_ms - 1 if first_ms is not None else requested_at_ms - REST_FINAL_MARGIN_MS
                anchor_ms = bucket_open_ms(interval, before_ms)
                bars_out = feed.closer.anchor(symbol, interval, anchor_ms)
                log.info(
                    "series_starts", market=feed.market, symbol=symbol, interval=interval, after_ms=anchor_ms
                )
            for bar in bars_out:
                await self._put_kept(bar)
            done += 1
            feed.bootstrap_done += 1
            if self._progress is not None:
                self._progress(feed.market, done, total)

        if total:
            await asyncio.gather(*(one(s, i) for s, i in todo))
            log.info("bootstrap_done", market=feed.market, series=total)

    async def _check_bars(self, feed: MarketFeed) -> None:
        while True:
            await asyncio.sleep(self.config.bar_check_s)
            feed.filler.check()
