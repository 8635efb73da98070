"""Where backtest events come from, and the one order in which they are replayed.

Inputs (each becomes one stream of events):

- `ArchiveInput`: a data.binance.vision klines or aggTrades file (zip or CSV, ms or µs timestamps, spot or
  USD-M, header or not) read by `sources.archive`, i.e. the same `bars_from_rows` as REST backfill;
- `CandleJsonInput`: a JSON array of `[open_time_ms, o, h, l, c, v]` rows (see `candles.py`);
- `FreqtradeInput`: a freqtrade feather or JSON candle file, named as freqtrade names them (`freqtrade.py`);
- `CacheInput`: one (market, symbol, interval) of the local candle cache;
- `RecordingInput`: a recorded WebSocket session, parsed by the live `FrameParser` via `sources.replay`.

Order: the streams are merged on `(ts_event_ns, symbol, interval length)` (see `merge_in_event_order`). For archive
and cache bars `ts_event_ns` is close time + 1 ms, so bars go out by close time, then symbol, then the
shorter interval first (a 1m and a 5m bar closing together: the 1m first). Inside one stream the input
order is kept, which for a recording is the live arrival order.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain, islice, pairwise
from operator import attrgetter, itemgetter, le
from pathlib import Path

import structlog

from cryptoradar.backtest.candles import CandleCache, read_ohlcv_json
from cryptoradar.backtest.freqtrade import (
    FREQTRADE_PATTERNS,
    CandleType,
    FreqtradeInput,
    parse_freqtrade_name,
    read_freqtrade,
    read_funding_rates,
)
from cryptoradar.events import Bar, Event, Market
from cryptoradar.sources.archive import (
    ContinuityReport,
    import_agg_trades,
    import_klines,
    interval_ms,
    market_in_path,
    parse_archive_name,
)
from cryptoradar.sources.replay import replay_frames

__all__ = [
    "ArchiveInput",
    "BacktestInput",
    "CacheInput",
    "CandleJsonInput",
    "FreqtradeInput",
    "LoadedStream",
    "RecordingInput",
    "UnknownInputError",
    "identify",
    "load",
    "merge_in_event_order",
]

_log = structlog.get_logger(__name__)
_CANDLE_NAME = re.compile(r"^(?P<symbol>[A-Za-z0-9_]+)-(?P<interval>\d+[smhdw])\.json$")


@dataclass(frozen=True, slots=True)
class ArchiveInput:
    path: Path
    market: Market | None = None
    """None: from a `futures/um` folder in the path, else spot."""
    symbol: str | None = None
    interval: str | None = None
    """None: from the archive file name."""


@dataclass(frozen=True, slots=True)
class CandleJsonInput:
    path: Path
    market: Market = Market.SPOT
    symbol: str | None = None
    """None: from a `<SYMBOL>-<interval>.json` name, underscores removed (`XRP_ETH-1m.json` -> XRPETH)."""
    interval: str | None = None


@dataclass(frozen=True, slots=True)
class CacheInput:
    cache: CandleCache
    market: Market
    symbol: str
    interval: str


@dataclass(frozen=True, slots=True)
class RecordingInput:
    path: Path
    market: Market | None = None


BacktestInput = ArchiveInput | CandleJsonInput | FreqtradeInput | CacheInput | RecordingInput

CANDLE_SUFFIXES = (".feather", ".json", ".gz", ".jsongz", ".csv", ".zip", ".jsonl")
"""What a folder given as candle input is searched for (recursively)."""
NAME_PATTERNS = (
    *FREQTRADE_PATTERNS,
    "SYMBOL-<tf>-YYYY-MM[-DD].csv|zip or SYMBOL-aggTrades-YYYY-MM[-DD].csv|zip (data.binance.vision)",
    "SYMBOL-<tf>.json (a JSON candle array; market from --market)",
    "<cache>/spot|usdm/<tf>/SYMBOL.jsonl (the candle cache)",
)


class UnknownInputError(ValueError):
    """A candle file whose name says neither its format nor its symbol and interval."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"{path}: cannot tell the format, symbol or interval from the name; expected one of: "
                         + "; ".join(NAME_PATTERNS))  # fmt: skip


def identify(path: Path, market: Market | None = None) -> BacktestInput:
    """The input a candle file is, from its name (and folder, for archives).

    `market` fills in where the name cannot tell it (spot by default); a name or an archive folder that
    says the market (`-futures`, `BTC_USDT_USDT`, `futures/um`) wins. Raises `UnknownInputError`.
    """
    freqtrade = parse_freqtrade_name(path, market)
    if freqtrade is not None:
        return freqtrade
    if parse_archive_name(path) is not None:
        return ArchiveInput(path, market_in_path(path) or market)
    if _CANDLE_NAME.match(path.name) is not None:
        return CandleJsonInput(path, market or Market.SPOT)
    cached = _cache_file(path)
    if cached is not None:
        return cached
    raise UnknownInputError(path)


def _cache_file(path: Path) -> CacheInput | None:
    """A file of the candle cache, from its place in the layout `<root>/<market>/<interval>/<SYMBOL>.jsonl`."""
    if path.suffix != ".jsonl" or len(path.parts) < 4:
        return None
    interval, market = path.parent.name, path.parent.parent.name
    if interval_ms(interval) is None or market not in tuple(Market):
        return None
    return CacheInput(CandleCache(path.parents[2]), Market(market), path.stem.upper(), interval)


@dataclass(frozen=True, slots=True)
class LoadedStream:
    """One input's events in input order, with what the loader found wrong (never fatal)."""

    name: str
    events: Sequence[Event]
    report: ContinuityReport
    series: tuple[Market, str, str] | None = None
    """(market, symbol, interval) when every event is a bar of it (klines, candle and cache files)."""
    note: str = ""
    """What the report should say about this input beyond its counts (e.g. read but not replayed)."""


def load(source: BacktestInput) -> LoadedStream:
    """Read one input fully (archives and candle files are small enough per file; see docs/backtest.md)."""
    if isinstance(source, ArchiveInput):
        name = parse_archive_name(source.path)
        if name is not None and name.kind == "aggTrades":
            trades, report = import_agg_trades(source.path, source.market, source.symbol)
            return LoadedStream(str(source.path), trades, report)
        bars, report = import_klines(source.path, source.market, source.symbol, source.interval)
        series = (bars[0].market, bars[0].symbol, bars[0].interval) if bars else None
        return LoadedStream(str(source.path), bars, report, series)
    if isinstance(source, CandleJsonInput):
        match = _CANDLE_NAME.match(source.path.name)
        symbol = source.symbol or (match["symbol"].replace("_", "").upper() if match else None)
        interval = source.interval or (match["interval"] if match else None)
        if symbol is None or interval is None:
            raise ValueError(f"{source.path}: pass symbol and interval, the file name does not carry them")
        bars = read_ohlcv_json(source.path, source.market, symbol, interval)
        return LoadedStream(
            str(source.path), bars, _continuity(bars, interval), (source.market, symbol, interval)
        )
    if isinstance(source, FreqtradeInput):
        return _load_freqtrade(source)
    if isinstance(source, CacheInput):
        bars = source.cache.read(source.market, source.symbol, source.interval)
        path = source.cache.path(source.market, source.symbol, source.interval)
        series = (source.market, source.symbol, source.interval)
        return LoadedStream(str(path), bars, _continuity(bars, source.interval), series)
    events: list[Event] = []
    report = ContinuityReport()
    for parsed in replay_frames(source.path, source.market):
        report.rows += 1
        events.extend(parsed.events)
    return LoadedStream(str(source.path), events, report)


def _load_freqtrade(source: FreqtradeInput) -> LoadedStream:
    name = str(source.path)
    if source.candle_type is CandleType.PRICE:
        bars = read_freqtrade(source)
        series = (source.market, source.symbol, source.interval)
        return LoadedStream(name, bars, _continuity(bars, source.interval), series)
    # Mark price candles and funding events are read (so a broken file shows) but not replayed: no
    # detector consumes them, and they must not mix with the USD-M price bars of the same symbol.
    rows = (
        read_funding_rates(source)
        if source.candle_type is CandleType.FUNDING_RATE
        else read_freqtrade(source)
    )
    note = f"{source.candle_type.value} {source.symbol}: {len(rows):,} rows read, not replayed (no detector reads them)"
    return LoadedStream(name, [], ContinuityReport(rows=len(rows)), note=note)


def _continuity(bars: Sequence[Bar], interval: str) -> ContinuityReport:
    report = ContinuityReport(rows=len(bars))
    step = interval_ms(interval)
    previous: int | None = None
    for b in bars:
        if previous is not None and step is not None:
            if b.open_time_ms <= previous:
                report.out_of_order += 1
                continue
            if b.open_time_ms != previous + step:
                report.missing += (b.open_time_ms - previous) // step - 1
                report.gaps.append((previous, b.open_time_ms))
        previous = b.open_time_ms
    if not report.continuous:
        _log.warning(
            "candle_gaps", interval=interval, missing=report.missing, out_of_order=report.out_of_order
        )
    return report


class _EventKey:
    """`(ts_event_ns, symbol, interval length)` of an event: the merge order."""

    __slots__ = ("_lengths",)

    def __init__(self) -> None:
        self._lengths: dict[str, int] = {}

    def __call__(self, e: Event) -> tuple[int, str, int]:
        if type(e) is Bar:
            return e.ts_event_ns, e.symbol, self.length(e.interval)
        return e.ts_event_ns, getattr(e, "symbol", ""), 0

    def length(self, interval: str) -> int:
        length = self._lengths.get(interval)
        if length is None:
            length = self._lengths[interval] = interval_ms(interval) or 0
        return length


_TS_EVENT_NS = attrgetter("ts_event_ns")
_SYMBOL = attrgetter("symbol")
_INTERVAL = attrgetter("interval")


def merge_in_event_order(streams: Sequence[Iterable[Event]]) -> Iterator[Event]:
    """Merge of per-input event streams by (ts_event_ns, symbol, interval length).

    Ties beyond the key keep stream order (the earlier input first), so the result is deterministic.
    When every stream is a list of one (symbol, interval length) in time order (every archive and cache
    file; see `_series`), the merge is their concatenation, stably sorted on `ts_event_ns` alone if they
    overlap in time: many times cheaper than a heap, and done here, not while iterating. Anything else
    is merged lazily with a heap. Both give the same order: the heap merge's tie rule is the stable sort's.
    """
    if len(streams) == 1:
        return iter(streams[0])
    key = _EventKey()
    ranked: list[tuple[str, int, int, int, int]] = []
    for n, stream in enumerate(streams):
        if type(stream) is list and not stream:
            continue
        series = _series(stream, key)
        if series is None:
            # heapq.merge breaks key ties by stream index, which gives the documented tie rule.
            return heapq.merge(*streams, key=key)
        symbol, length, first_ns, last_ns = series
        ranked.append((symbol, length, first_ns, last_ns, n))
    # Streams in (symbol, length, input) order, then stably by time: events at one time come out by
    # symbol, length, then input, as the full key says; inside a stream the key never decreases.
    ranked.sort(key=itemgetter(0, 1, 4))
    events = chain.from_iterable(streams[n] for *_, n in ranked)
    if all(last_ns <= first_ns for (_, _, _, last_ns, _), (_, _, first_ns, _, _) in pairwise(ranked)):
        return events  # apart in time (one symbol over many days): the concatenation is the order
    return iter(sorted(events, key=_TS_EVENT_NS))


def _series(stream: Iterable[Event], key: _EventKey) -> tuple[str, int, int, int] | None:
    """(symbol, interval length, first and last ts_event_ns) of a list sharing both, in time order.

    None for anything else: a lazy stream, a recording's mixed events, or events out of time order.
    """
    if type(stream) is not list:
        return None
    kinds = set(map(type, stream))
    if kinds == {Bar}:
        symbols, intervals = set(map(_SYMBOL, stream)), set(map(_INTERVAL, stream))
        if len(symbols) != 1 or len(intervals) != 1:
            return None
        symbol, length = symbols.pop(), key.length(intervals.pop())
    elif len(kinds) == 1:
        symbols = {getattr(e, "symbol", "") for e in stream}
        if len(symbols) != 1:
            return None
        symbol, length = symbols.pop(), 0
    else:
        return None
    times = list(map(_TS_EVENT_NS, stream))
    if not all(map(le, times, islice(times, 1, None))):
        return None
    return symbol, length, times[0], times[-1]
