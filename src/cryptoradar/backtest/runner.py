"""The backtest: recorded or archived events through the live `DetectorSet`, then every signal scored.

Live parity: there is no backtest-specific detector code. Events go one by one, in the order of
`inputs.merge_in_event_order`, into `DetectorSet.on_event` (the same call the app makes per event), and
`flush()` at the end releases momentum candidates still held for grouping, as a replay does. Indicators,
cooldowns and repeat rules are therefore the live ones. Outcomes are computed afterwards from the bars of
each signal's symbol (`PricePath`, the finest interval loaded; trades-only symbols get 1m bars built by
`bars_from_trades`) and never feed back into detection.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from itertools import chain
from operator import attrgetter
from typing import cast

import structlog

from cryptoradar.backtest.inputs import BacktestInput, LoadedStream, load, merge_in_event_order
from cryptoradar.backtest.outcomes import PricePath, parse_horizon
from cryptoradar.backtest.stats import (
    HitRate,
    SignalOutcome,
    SymbolGrouper,
    aggregate,
    evaluate_signal,
    radar_symbol_group,
)
from cryptoradar.backtest.timeframes import TimeframePlan, plan_timeframes, resample
from cryptoradar.config.detectors import DetectorsConfig
from cryptoradar.detectors import DetectorSet
from cryptoradar.detectors.radar import DETECTOR as RADAR_DETECTOR
from cryptoradar.events import Bar, Event, Liquidation, Market, Signal, Trade
from cryptoradar.sources.archive import ContinuityReport, interval_ms
from cryptoradar.sources.binance.aggregate import bars_from_trades

__all__ = [
    "BacktestOptions",
    "BacktestResult",
    "Prepared",
    "Progress",
    "ProgressCallback",
    "Stage",
    "StreamSummary",
    "prepare",
    "price_paths",
    "replay_through_engine",
    "run_backtest",
    "score",
]

DEFAULT_HORIZONS = ("15m", "1h", "4h")
_PROGRESS_EVERY = 65_536
_TRADES_PATH_INTERVAL = "1m"
_CLOSED = attrgetter("closed")
_OPEN_TIME = attrgetter("open_time_ms")
_log = structlog.get_logger(__name__)


class Stage(StrEnum):
    LOAD = "load"
    DETECT = "detect"
    SCORE = "score"


@dataclass(frozen=True, slots=True)
class Progress:
    stage: Stage
    done: int
    total: int
    signals: int


ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True, slots=True)
class BacktestOptions:
    """What to replay and how to score it. Filters are None for "everything loaded".

    `from_ms`/`to_ms` select bars with `from_ms <= open_time_ms < to_ms` and other events by `ts_event_ns`
    likewise; indicators warm up inside the range, as the live path does after a restart without backfill.
    """

    detectors: DetectorsConfig = field(default_factory=DetectorsConfig)
    horizons: tuple[str, ...] = DEFAULT_HORIZONS
    symbols: frozenset[str] | None = None
    timeframes: frozenset[str] | None = None
    from_ms: int | None = None
    to_ms: int | None = None
    symbol_group: SymbolGrouper = field(default_factory=radar_symbol_group)

    def __post_init__(self) -> None:
        if not self.horizons:
            raise ValueError("backtest: give at least one horizon (e.g. 15m)")
        for h in self.horizons:
            parse_horizon(h)


@dataclass(frozen=True, slots=True)
class StreamSummary:
    name: str
    events: int
    missing: int
    out_of_order: int
    bad_rows: int
    note: str = ""


@dataclass(slots=True)
class BacktestResult:
    signals: list[Signal]
    outcomes: list[SignalOutcome]
    hit_rates: list[HitRate]
    paths: dict[tuple[Market, str], tuple[str, PricePath]]
    """Per (market, symbol): the interval used to score, and its bars."""
    streams: list[StreamSummary]
    events: int
    bars: int
    """Input bars replayed; bars built by resampling are counted in `timeframes.built`."""
    detect_s: float
    horizons: tuple[str, ...]
    timeframes: TimeframePlan = field(default_factory=TimeframePlan)
    """Intervals built by resampling, and the detectors that can never fire on these inputs."""


def replay_through_engine(
    events: Iterable[Event], config: DetectorsConfig, progress: ProgressCallback | None = None
) -> tuple[list[Signal], int, int]:
    """Feed `events` one by one to a fresh `DetectorSet`, then flush; (signals, events seen, bars seen)."""
    engine = DetectorSet(config)
    on_event = engine.on_event
    signals: list[Signal] = []
    n = bars = 0
    for n, event in enumerate(events, 1):
        found = on_event(event)
        if found:
            signals.extend(found)
        if type(event) is Bar:
            bars += 1
        if progress is not None and n % _PROGRESS_EVERY == 0:
            progress(Progress(Stage.DETECT, n, 0, len(signals)))
    signals.extend(engine.flush())
    if progress is not None:
        progress(Progress(Stage.DETECT, n, n, len(signals)))
    return signals, n, bars


def _filtered(events: Iterable[Event], options: BacktestOptions) -> Iterable[Event]:
    """`events` themselves when the options filter nothing, else the events they select, lazily."""
    selects = (options.symbols, options.timeframes, options.from_ms, options.to_ms)
    return events if selects == (None, None, None, None) else _selected(events, options)


def _selected(events: Iterable[Event], options: BacktestOptions) -> Iterator[Event]:
    symbols, timeframes = options.symbols, options.timeframes
    lo_ns = options.from_ms * 1_000_000 if options.from_ms is not None else None
    hi_ns = options.to_ms * 1_000_000 if options.to_ms is not None else None
    for e in events:
        if symbols is not None and getattr(e, "symbol", None) not in symbols:
            continue
        if timeframes is not None and type(e) is Bar and e.interval not in timeframes:
            continue
        # Bars by open time (a day's range holds that day's bars), everything else by event time.
        ts_ns = e.open_time_ms * 1_000_000 if type(e) is Bar else e.ts_event_ns
        if (lo_ns is not None and ts_ns < lo_ns) or (hi_ns is not None and ts_ns >= hi_ns):
            continue
        yield e


def price_paths(
    streams: Sequence[LoadedStream], options: BacktestOptions
) -> dict[tuple[Market, str], tuple[str, PricePath]]:
    """The finest closed-bar series per (market, symbol); symbols with only trades get 1m bars from them."""
    bars: dict[tuple[Market, str, str], list[Bar]] = defaultdict(list)
    trades: dict[tuple[Market, str], list[Trade]] = defaultdict(list)
    for stream in streams:
        events = _filtered(stream.events, options)
        if stream.series is not None:  # bars of one (market, symbol, interval): no key per event
            bars[stream.series].extend(cast("Iterable[Bar]", filter(_CLOSED, events)))
            continue
        for e in events:
            if type(e) is Bar and e.closed:
                bars[(e.market, e.symbol, e.interval)].append(e)
            elif type(e) is Trade:
                trades[(e.market, e.symbol)].append(e)
    finest: dict[tuple[Market, str], str] = {}
    for (market, symbol, interval), series_bars in bars.items():
        if not series_bars:
            continue  # a series stream whose bars the options all filtered out
        length = interval_ms(interval)
        current = finest.get((market, symbol))
        if length is not None and (current is None or length < (interval_ms(current) or 0)):
            finest[(market, symbol)] = interval
    paths = {k: (iv, PricePath.from_bars(bars[(*k, iv)])) for k, iv in finest.items()}
    step_ms = interval_ms(_TRADES_PATH_INTERVAL) or 60_000
    for (market, symbol), ts in trades.items():
        if (market, symbol) not in paths:
            ts.sort(key=lambda t: t.ts_event_ns)
            built = bars_from_trades(ts, market, symbol, _TRADES_PATH_INTERVAL, step_ms)
            paths[(market, symbol)] = (_TRADES_PATH_INTERVAL, PricePath.from_bars(built))
    return paths


def _path_for(signal: Signal, paths: dict[tuple[Market, str], tuple[str, PricePath]]) -> PricePath | None:
    """The radar watches USD-M, the bar detectors spot by default: prefer that market, else the other."""
    order = (Market.USDM, Market.SPOT) if signal.detector == RADAR_DETECTOR else (Market.SPOT, Market.USDM)
    for market in order:
        found = paths.get((market, signal.symbol))
        if found is not None:
            return found[1]
    return None


@dataclass(frozen=True, slots=True)
class Prepared:
    """Loaded inputs: the merged, filtered events (materialised, so sweeps replay them many times)."""

    events: list[Event]
    paths: dict[tuple[Market, str], tuple[str, PricePath]]
    streams: list[StreamSummary]
    timeframes: TimeframePlan = field(default_factory=TimeframePlan)
    built_bars: int = 0
    """How many of `events` are bars built by resampling."""


def prepare(
    inputs: Sequence[BacktestInput], options: BacktestOptions, progress: ProgressCallback | None = None
) -> Prepared:
    """Load every input, build the intervals the detectors need from lower ones (`timeframes`), and
    merge the streams in event order (see `inputs.merge_in_event_order`)."""
    streams: list[LoadedStream] = []
    for n, source in enumerate(inputs, 1):
        streams.append(load(source))
        if progress is not None:
            progress(Progress(Stage.LOAD, n, len(inputs), 0))
    plan, built = _build_missing_timeframes(streams, options)
    streams += built
    if built and options.timeframes is not None:  # what was built for the detectors passes the filter
        options = replace(options, timeframes=options.timeframes | {b.target for b in plan.builds})
    events = list(_filtered(merge_in_event_order([s.events for s in streams]), options))
    built_bars = sum(1 for s in built for _ in _filtered(s.events, options))
    summaries = [
        StreamSummary(
            s.name, len(s.events), s.report.missing, s.report.out_of_order, s.report.bad_rows, s.note
        )
        for s in streams
    ]
    return Prepared(events, price_paths(streams, options), summaries, plan, built_bars)


def _build_missing_timeframes(
    streams: Sequence[LoadedStream], options: BacktestOptions
) -> tuple[TimeframePlan, list[LoadedStream]]:
    """Plan over the series the options select, then resample each planned series from its source
    (a series built first can be the source of a longer one: 1h from a built 15m)."""
    series: dict[tuple[Market, str, str], list[Sequence[Event]]] = defaultdict(list)
    radar_events = False
    for s in streams:
        if s.series is None:
            radar_events = radar_events or any(
                type(e) in (Trade, Liquidation) and cast("Trade", e).market is Market.USDM for e in s.events
            )
            continue
        _, symbol, interval = s.series
        if (options.symbols is None or symbol in options.symbols) and (
            options.timeframes is None or interval in options.timeframes
        ):
            series[s.series].append(s.events)
    plan = plan_timeframes(series, options.detectors, radar_events)
    built: list[LoadedStream] = []
    for b in plan.builds:
        parts = series[(b.market, b.symbol, b.source)]
        source = cast("list[Bar]", list(chain.from_iterable(parts)))
        if len(parts) > 1:
            source.sort(key=_OPEN_TIME)  # several files of one series (daily archives) in any order
        made, dropped = resample(source, b.target)
        plan.built[b] = (len(made), dropped)
        series[(b.market, b.symbol, b.target)].append(made)
        name = f"{b.market.value} {b.symbol} {b.target} built from {b.source}"
        report = ContinuityReport(rows=len(made), missing=dropped)
        built.append(LoadedStream(name, made, report, (b.market, b.symbol, b.target)))
    for b in plan.builds:
        _log.info("timeframe_built", market=b.market.value, symbol=b.symbol, interval=b.target,
                  source=b.source, bars=plan.built[b][0], incomplete_buckets=plan.built[b][1])  # fmt: skip
    for detector, why in plan.warnings.items():
        _log.warning("detector_never_fires", detector=detector, reason=why.lstrip(" :"))
    return plan, built


def score(
    signals: Sequence[Signal],
    paths: dict[tuple[Market, str], tuple[str, PricePath]],
    options: BacktestOptions,
    progress: ProgressCallback | None = None,
) -> list[SignalOutcome]:
    """Every signal's outcome at the options' horizons, in signal order."""
    max_horizon_ms = max(parse_horizon(h) for h in options.horizons)
    outcomes = []
    for n, s in enumerate(signals, 1):
        path = _path_for(s, paths)
        outcomes.append(
            evaluate_signal(s, path, options.horizons, max_horizon_ms, options.symbol_group(s.symbol))
        )
        if progress is not None and (n % 256 == 0 or n == len(signals)):
            progress(Progress(Stage.SCORE, n, len(signals), len(signals)))
    return outcomes


def run_backtest(
    inputs: Sequence[BacktestInput], options: BacktestOptions, progress: ProgressCallback | None = None
) -> BacktestResult:
    """Load every input, replay the merged events through the detectors, score and aggregate the signals."""
    prepared = prepare(inputs, options, progress)
    started = time.perf_counter()
    signals, events, bars = replay_through_engine(prepared.events, options.detectors, progress)
    detect_s = time.perf_counter() - started
    outcomes = score(signals, prepared.paths, options, progress)
    return BacktestResult(
        signals,
        outcomes,
        aggregate(outcomes),
        prepared.paths,
        prepared.streams,
        events,
        bars - prepared.built_bars,
        detect_s,
        options.horizons,
        prepared.timeframes,
    )
