"""REST klines into the candle cache: paged, resumable, inside the REST client's weight budget.

`fetch_candles(source, cache, request)` fills `<cache>/<market>/<interval>/<SYMBOL>.jsonl` for every
symbol of `request` up to `request.to_ms`, one page of at most 1000 bars per request, appending each page
(fsynced) before asking for the next. The weight budget is the source's business: `BinanceRest` reserves
every request's documented weight on its `WeightGate` and waits for the next exchange minute when the
budget is spent, so a fetch never needs a sleep of its own.

Resume: a symbol's fetch starts where its cache ends (`CandleCache.next_open_ms`), or at
`request.from_ms` when it has none. The cache stays one contiguous run of history: it grows forward only,
so a `from_ms` later than the cache's end still fetches from the end, and history before the cache's first
bar needs a fresh cache directory. Cancelling a fetch (Ctrl-C, a killed process) loses at most the page in
flight; running it again continues from the last stored bar.

Pages are time windows (`page_windows`, pure): a window with fewer rows than bars (before a listing,
during a halt) moves the cursor on all the same, so a gap never stalls a fetch. Only closed bars are
stored: a window reaching into the bar in progress stores up to the last closed one, and the next run
picks up from there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cryptoradar.backtest.candles import CandleCache
from cryptoradar.events import Market
from cryptoradar.sources.archive import interval_ms
from cryptoradar.sources.binance.rest import BinanceRest, klines_limit

__all__ = [
    "FetchProgress",
    "FetchRequest",
    "FetchSummary",
    "fetch_candles",
    "page_windows",
]

PAGE_BARS = 1000
"""Bars per request: the most spot klines return, and the cheapest full page on USD-M (weight 5)."""


@dataclass(frozen=True, slots=True)
class FetchRequest:
    """Bars of `interval` opening in [from_ms, to_ms) for every symbol (symbols upper-cased).

    `from_ms=None`: resume only; a symbol without a cache then raises ValueError.
    """

    market: Market
    symbols: tuple[str, ...]
    interval: str
    from_ms: int | None
    to_ms: int

    def __post_init__(self) -> None:
        if not self.symbols:
            raise ValueError("fetch: name at least one symbol")
        if interval_ms(self.interval) is None:
            raise ValueError(f"fetch: interval {self.interval!r} has no fixed length (use 1m..1w)")
        if self.from_ms is not None and self.to_ms <= self.from_ms:
            raise ValueError("fetch: the end must come after the start")


@dataclass(frozen=True, slots=True)
class FetchProgress:
    """After each page: pages done / planned over the whole request, and bars stored so far."""

    symbol: str
    pages_done: int
    pages_total: int
    bars_written: int


@dataclass(frozen=True, slots=True)
class FetchSummary:
    """Bars stored per symbol by this run (0 for a symbol whose cache was already complete)."""

    interval: str
    bars_written: dict[str, int]
    requests: int


def page_windows(
    start_ms: int, to_ms: int, step_ms: int, page_bars: int = PAGE_BARS
) -> list[tuple[int, int]]:
    """Inclusive open-time windows `(first, last)` of at most `page_bars` bars covering [start_ms, to_ms)."""
    span_ms = page_bars * step_ms
    return [(t, min(t + span_ms, to_ms) - 1) for t in range(start_ms, to_ms, span_ms)]


async def fetch_candles(
    source: BinanceRest,
    cache: CandleCache,
    request: FetchRequest,
    progress: Callable[[FetchProgress], None] | None = None,
) -> FetchSummary:
    """Fetches what the cache lacks of `request`, symbol after symbol; see the module docstring.

    REST errors propagate as the client raises them (`RetryableError` after its own retries,
    `PermanentError`); every page stored before the error stays stored.
    """
    step_ms = interval_ms(request.interval)
    assert step_ms is not None  # FetchRequest checked it
    symbols = [s.upper() for s in request.symbols]
    plans = {s: page_windows(_start_ms(cache, request, s), request.to_ms, step_ms) for s in symbols}
    total = sum(len(p) for p in plans.values())
    done = 0
    written: dict[str, int] = {}
    for symbol in symbols:
        written[symbol] = 0
        for first_ms, last_ms in plans[symbol]:
            bars = (last_ms - first_ms) // step_ms + 1
            page = await source.klines(
                symbol,
                request.interval,
                limit=klines_limit(request.market, bars),
                start_ms=first_ms,
                end_ms=last_ms,
            )
            written[symbol] += cache.append(request.market, symbol, request.interval, page)
            done += 1
            if progress is not None:
                progress(FetchProgress(symbol, done, total, sum(written.values())))
    return FetchSummary(request.interval, written, done)


def _start_ms(cache: CandleCache, request: FetchRequest, symbol: str) -> int:
    resume_ms = cache.next_open_ms(request.market, symbol, request.interval)
    if resume_ms is not None:
        return resume_ms
    if request.from_ms is None:
        raise ValueError(f"fetch: {symbol} {request.interval} has no cache to resume from; give a start date")
    return request.from_ms
