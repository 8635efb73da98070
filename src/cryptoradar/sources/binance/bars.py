"""Closed bars exactly once, in open-time order, per (symbol, interval).

`BarCloser` is pure logic (no I/O, no clock reads: callers pass the exchange time). It merges three inputs:

- stream klines (`on_stream_bar`): in-progress snapshots pass through (newest only); a final (`x=true`)
  bar is emitted if it is the next expected one, or held if an earlier bar is still missing;
- REST klines (`on_rest_bars`): rows closed by the exchange clock fill gaps, in order;
- the exchange clock (`overdue`): a bar whose close time has passed by `close_grace_ms` without a final
  push is reported so the gap filler fetches it from REST (after reconnects, stalls, lost final pushes).

Every copy of a bar after the first final one is dropped and counted (`BARS_DROPPED`, by reason).
State per series is bounded: the last closed open time, the newest in-progress snapshot, and at most
`max_held` final bars waiting for a gap to close (older held bars are dropped; REST brings them back).

`GapFiller` is the small async part: it turns overdue series into paginated REST fetches.
"""

from __future__ import annotations

import asyncio
import calendar
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import NamedTuple

import msgspec
import structlog

from cryptoradar.core.errors import PermanentError, RetryableError
from cryptoradar.core.intervals import FIXED_INTERVAL_MS
from cryptoradar.core.logging import LogOncePerKind
from cryptoradar.core.metrics import BARS_CLOSED, BARS_DROPPED
from cryptoradar.core.supervisor import spawn
from cryptoradar.events import Bar, Market

__all__ = [
    "BarCloser",
    "DropReason",
    "GapFiller",
    "Overdue",
    "SeriesKey",
    "bucket_open_ms",
    "close_ms",
    "is_valid_interval",
    "next_open_ms",
    "nominal_interval_ms",
]

log = structlog.get_logger(__name__)

MONTH = "1M"
_FIRST_MONDAY_MS = 4 * 86_400_000
REST_FINAL_MARGIN_MS = 1_000
"""A REST row counts as final only once its close time is this far behind our exchange clock: our
offset estimate may be ahead of the server's, which would still be serving the row in progress."""


def is_valid_interval(interval: str) -> bool:
    return interval in FIXED_INTERVAL_MS or interval == MONTH


def nominal_interval_ms(interval: str) -> int:
    """Length of a bar; for `1M` the longest month (used only for budgeting, never for identity)."""
    if interval == MONTH:
        return 31 * 86_400_000
    return FIXED_INTERVAL_MS[interval]


def next_open_ms(interval: str, open_ms: int) -> int:
    """Open time of the bar after the one opening at `open_ms` (calendar months for `1M`)."""
    if interval != MONTH:
        return open_ms + FIXED_INTERVAL_MS[interval]
    start = datetime.fromtimestamp(open_ms / 1000, tz=UTC)
    year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
    return calendar.timegm((year, month, 1, 0, 0, 0)) * 1000


def close_ms(interval: str, open_ms: int) -> int:
    """`closeTime` as Binance reports it: next open minus 1 ms."""
    return next_open_ms(interval, open_ms) - 1


def bucket_open_ms(interval: str, ts_ms: int) -> int:
    """Open time of the `interval` bar that contains `ts_ms`: UTC boundaries from the epoch, weeks from Monday
    (the epoch was a Thursday), calendar months for `1M`."""
    if interval != MONTH:
        length_ms = FIXED_INTERVAL_MS[interval]
        offset_ms = _FIRST_MONDAY_MS if interval == "1w" else 0
        return (ts_ms - offset_ms) // length_ms * length_ms + offset_ms
    at = datetime.fromtimestamp(ts_ms / 1000, tz=UTC)
    return calendar.timegm((at.year, at.month, 1, 0, 0, 0)) * 1000


class DropReason(StrEnum):
    DUPLICATE = "duplicate"
    """A final copy of a bar already emitted (connection overlap, REST overlap)."""
    STALE = "stale"
    """An in-progress frame for a bar already closed."""
    OUT_OF_ORDER = "out_of_order"
    """An in-progress frame older than the newest snapshot seen."""
    HELD_OVERFLOW = "held_overflow"
    """Too many final bars waiting behind a gap; REST will deliver them again."""
    WRONG_INTERVAL = "wrong_interval"


SeriesKey = tuple[str, str]
"""(symbol, interval)."""


class Overdue(NamedTuple):
    """Series whose next bar `start_ms` has closed on the exchange clock but was not received final."""

    symbol: str
    interval: str
    start_ms: int


@dataclass
class _Series:
    last_closed_ms: int | None = None
    latest: Bar | None = None
    held: dict[int, Bar] = field(default_factory=dict)


class BarCloser:
    """Exactly-once closed bars for one market. See the module docstring for the contract."""

    def __init__(
        self,
        market: Market,
        *,
        close_grace_ms: int = 2_000,
        max_held: int = 16,
        initial: Mapping[SeriesKey, int] | None = None,
    ) -> None:
        self.market = market
        self.close_grace_ms = close_grace_ms
        self.max_held = max_held
        self._series: dict[SeriesKey, _Series] = {}
        self.dropped: dict[DropReason, int] = dict.fromkeys(DropReason, 0)
        self.emitted_closed = 0
        self._log_once = LogOncePerKind()
        for (symbol, interval), last_ms in (initial or {}).items():
            self.anchor(symbol, interval, last_ms)

    # --- state -------------------------------------------------------------------------------------

    def anchor(self, symbol: str, interval: str, last_closed_open_ms: int) -> list[Bar]:
        """Declare every bar up to and including `last_closed_open_ms` as handled; only moves forward.

        Returns held final bars that became contiguous (emit them).
        """
        series = self._series.setdefault((symbol, interval), _Series())
        if series.last_closed_ms is None or last_closed_open_ms > series.last_closed_ms:
            series.last_closed_ms = last_closed_open_ms
        return self._drain_held(series, interval)

    def is_anchored(self, symbol: str, interval: str) -> bool:
        series = self._series.get((symbol, interval))
        return series is not None and series.last_closed_ms is not None

    def last_closed(self, symbol: str, interval: str) -> int | None:
        """Open time of the last closed bar emitted (or anchored) for this series."""
        series = self._series.get((symbol, interval))
        return None if series is None else series.last_closed_ms

    def last_closed_map(self) -> dict[SeriesKey, int]:
        """What the app persists so a restart resumes without re-emitting."""
        return {k: s.last_closed_ms for k, s in self._series.items() if s.last_closed_ms is not None}

    def forget(self, symbol: str, interval: str) -> None:
        """Drop a series (the symbol left the universe)."""
        self._series.pop((symbol, interval), None)

    def held_count(self) -> int:
        return sum(len(s.held) for s in self._series.values())

    # --- inputs ------------------------------------------------------------------------------------

    def on_stream_bar(self, bar: Bar) -> list[Bar]:
        """A kline from a WebSocket. Returns what to emit: an in-progress snapshot and/or closed bars."""
        if not is_valid_interval(bar.interval):
            self._drop(DropReason.WRONG_INTERVAL)
            return []
        series = self._series.setdefault((bar.symbol, bar.interval), _Series())
        last = series.last_closed_ms
        if last is not None and bar.open_time_ms <= last:
            self._drop(DropReason.DUPLICATE if bar.closed else DropReason.STALE)
            return []
        if not bar.closed:
            latest = series.latest
            if latest is not None and (bar.open_time_ms, bar.ts_event_ns) < (
                latest.open_time_ms,
                latest.ts_event_ns,
            ):
                self._drop(DropReason.OUT_OF_ORDER)
                return []
            series.latest = bar
            return [bar]
        if bar.open_time_ms in series.held:
            self._drop(DropReason.DUPLICATE)
            return []
        if last is not None and bar.open_time_ms == next_open_ms(bar.interval, last):
            out = [self._emit(series, bar, "stream")]
            out.extend(self._drain_held(series, bar.interval))
            return out
        self._hold(series, bar)
        return []

    def on_rest_bars(self, symbol: str, interval: str, bars: Iterable[Bar], server_now_ms: int) -> list[Bar]:
        """Rows from REST klines. Rows whose close time has not passed on the exchange clock (by
        `REST_FINAL_MARGIN_MS`) are ignored as in progress. An unanchored series is anchored by the first final row. Returns closed bars to emit.
        """
        series = self._series.setdefault((symbol, interval), _Series())
        out: list[Bar] = []
        for bar in sorted(bars, key=lambda b: b.open_time_ms):
            if bar.close_time_ms >= server_now_ms - REST_FINAL_MARGIN_MS:
                break
            last = series.last_closed_ms
            if last is not None and bar.open_time_ms <= last:
                self._drop(DropReason.DUPLICATE)
                continue
            # REST has later final bars but not the expected one: the exchange has a hole there.
            # Waiting would stall the series forever, so skip the hole and say so.
            if (
                last is not None
                and bar.open_time_ms != next_open_ms(interval, last)
                and self._log_once.should_log("rest_hole")
            ):
                log.warning(
                    "kline_hole_in_rest",
                    market=self.market,
                    symbol=symbol,
                    interval=interval,
                    expected_ms=next_open_ms(interval, last),
                    got_ms=bar.open_time_ms,
                )
            held = series.held.pop(bar.open_time_ms, None)
            out.append(self._emit(series, held or msgspec.structs.replace(bar, closed=True), "rest"))
            out.extend(self._drain_held(series, interval))
        return out

    def overdue(self, server_now_ms: int) -> list[Overdue]:
        """Anchored series whose next bar closed more than `close_grace_ms` ago and was not emitted."""
        result: list[Overdue] = []
        for (symbol, interval), series in self._series.items():
            if series.last_closed_ms is None:
                continue
            expected = next_open_ms(interval, series.last_closed_ms)
            if server_now_ms > close_ms(interval, expected) + self.close_grace_ms:
                result.append(Overdue(symbol, interval, expected))
        return result

    # --- internals ---------------------------------------------------------------------------------

    def _emit(self, series: _Series, bar: Bar, via: str) -> Bar:
        series.last_closed_ms = bar.open_time_ms
        if series.latest is not None and series.latest.open_time_ms <= bar.open_time_ms:
            series.latest = None
        self.emitted_closed += 1
        BARS_CLOSED.labels(market=self.market, interval=bar.interval, via=via).inc()
        return bar

    def _hold(self, series: _Series, bar: Bar) -> None:
        series.held[bar.open_time_ms] = bar
        if len(series.held) > self.max_held:
            del series.held[min(series.held)]
            self._drop(DropReason.HELD_OVERFLOW)

    def _drain_held(self, series: _Series, interval: str) -> list[Bar]:
        out: list[Bar] = []
        last = series.last_closed_ms
        if last is None or not series.held:
            return out
        for open_ms in [t for t in series.held if t <= last]:
            del series.held[open_ms]
            self._drop(DropReason.DUPLICATE)
        while (nxt := series.held.pop(next_open_ms(interval, last), None)) is not None:
            out.append(self._emit(series, nxt, "stream"))
            last = nxt.open_time_ms
        return out

    def _drop(self, reason: DropReason) -> None:
        self.dropped[reason] += 1
        BARS_DROPPED.labels(market=self.market, reason=reason).inc()


FetchKlines = Callable[[str, str, int, int], Awaitable[list[Bar]]]
"""(symbol, interval, start_ms, end_ms) -> bars, paginated by the caller (the REST client)."""


class GapFiller:
    """Fetches overdue bars from REST and merges them through the `BarCloser`.

    `check(server_now_ms)` is called from a periodic tick and right after every (re)connect. Each series
    has at most one fetch in flight; a fetch that does not yet return the expected bar (REST lags the
    stream) is retried after `refetch_after_s`. Concurrency is bounded by `max_concurrency`.
    """

    def __init__(
        self,
        closer: BarCloser,
        fetch: FetchKlines,
        server_now_ms: Callable[[], int],
        emit: Callable[[Bar], None],
        *,
        max_concurrency: int = 8,
        refetch_after_s: float = 1.5,
    ) -> None:
        self._closer = closer
        self._fetch = fetch
        self._server_now_ms = server_now_ms
        self._emit = emit
        self._sem = asyncio.Semaphore(max_concurrency)
        self._refetch_after_s = refetch_after_s
        self._in_flight: dict[SeriesKey, asyncio.Task[None]] = {}
        self._not_before_s: dict[SeriesKey, float] = {}
        self.fetches = 0

    def check(self) -> None:
        now_s = asyncio.get_running_loop().time()
        for item in self._closer.overdue(self._server_now_ms()):
            key = (item.symbol, item.interval)
            if key in self._in_flight or self._not_before_s.get(key, 0.0) > now_s:
                continue
            task = spawn(
                self._fill(item),
                f"gapfill:{item.symbol}:{item.interval}",
                symbol=item.symbol,
                interval=item.interval,
            )
            self._in_flight[key] = task
            task.add_done_callback(self._done_callback(key))

    def _done_callback(self, key: SeriesKey) -> Callable[[asyncio.Task[None]], None]:
        def done(_task: asyncio.Task[None]) -> None:
            self._in_flight.pop(key, None)

        return done

    async def _fill(self, item: Overdue) -> None:
        key = (item.symbol, item.interval)
        retry_after_s = self._refetch_after_s
        try:
            async with self._sem:
                # Finality is judged at the request's start, not after the reply: a reply that arrives late
                # (a loaded host, accelerated time) still describes the exchange as it was when asked.
                now_ms = self._server_now_ms()
                bars = await self._fetch(item.symbol, item.interval, item.start_ms, now_ms)
                self.fetches += 1
                for bar in self._closer.on_rest_bars(item.symbol, item.interval, bars, now_ms):
                    self._emit(bar)
        except RetryableError as e:
            retry_after_s = max(retry_after_s, e.retry_after_s or 0.0)
        except PermanentError as e:
            retry_after_s = max(retry_after_s, 60.0)
            log.warning("gap_fill_failed", symbol=item.symbol, interval=item.interval, error=str(e))
        last = self._closer.last_closed(item.symbol, item.interval)
        if last is not None and last >= item.start_ms:
            self._not_before_s.pop(key, None)
        else:
            self._not_before_s[key] = asyncio.get_running_loop().time() + retry_after_s

    def forget(self, symbol: str, interval: str) -> None:
        """Stop filling a series (its symbol left): a fetch in flight is cancelled, so it cannot revive it."""
        key = (symbol, interval)
        task = self._in_flight.pop(key, None)
        if task is not None:
            task.cancel()
        self._not_before_s.pop(key, None)

    async def stop(self) -> None:
        tasks = list(self._in_flight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
