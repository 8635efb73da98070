"""`cryptoradar backtest`: the functions the CLI calls, with typed arguments and rich progress displays.

The typer command maps its options onto `fetch_command(...)` (with `--fetch`: REST klines into the candle
cache first) and `backtest_command(...)` one to one; nothing here parses argv. Backtest work runs in a
thread (`asyncio.to_thread`) so a caller's event loop stays responsive.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from cryptoradar.backtest.candles import CandleCache
from cryptoradar.backtest.fetch import FetchProgress, FetchRequest, FetchSummary, fetch_candles
from cryptoradar.backtest.inputs import (
    CANDLE_SUFFIXES,
    ArchiveInput,
    BacktestInput,
    CacheInput,
    RecordingInput,
    UnknownInputError,
    identify,
)
from cryptoradar.backtest.report import ReportFiles, open_in_browser, write_report
from cryptoradar.backtest.runner import (
    DEFAULT_HORIZONS,
    BacktestOptions,
    BacktestResult,
    ProgressCallback,
    Stage,
    run_backtest,
)
from cryptoradar.backtest.runner import Progress as RunProgress
from cryptoradar.backtest.stats_store import save_hit_rates
from cryptoradar.config.detectors import DetectorsConfig
from cryptoradar.core.clock import Clock
from cryptoradar.events import Market
from cryptoradar.sources.archive import market_in_path, parse_archive_name
from cryptoradar.sources.binance.rest import BinanceRest, RestSettings

__all__ = [
    "BacktestRun",
    "backtest_command",
    "candle_inputs",
    "collect_inputs",
    "fetch_command",
    "parse_day_ms",
    "rich_fetch_progress",
    "rich_progress",
]

_ARCHIVE_SUFFIXES = (".zip", ".csv")


@dataclass(frozen=True, slots=True)
class BacktestRun:
    result: BacktestResult
    files: ReportFiles
    opened: bool


def parse_day_ms(text: str) -> int:
    """`2024-08-01` or an ISO datetime (UTC when no zone is given) -> unix ms; ValueError names the input."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r}: use YYYY-MM-DD or an ISO datetime such as 2024-08-01T12:00") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _archive_files(paths: Sequence[Path]) -> list[Path]:
    found: list[Path] = []
    for p in paths:
        if p.is_dir():
            found += sorted(f for f in p.rglob("*") if f.suffix in _ARCHIVE_SUFFIXES)
        else:
            found.append(p)
    return found


def candle_inputs(paths: Sequence[Path], market: Market | None = None) -> list[BacktestInput]:
    """Candle files (and folders, searched recursively) identified by name: freqtrade feather/JSON,
    data.binance.vision CSV/zip, JSON candle arrays. `market` fills in where a name cannot tell.

    A file given by name that cannot be identified raises `UnknownInputError` (one line naming the
    expected patterns); inside a folder such files are skipped, as freqtrade folders also hold trades.
    """
    inputs: list[BacktestInput] = []
    for p in paths:
        if not p.exists():
            raise ValueError(f"{p}: no such file or folder")
        if not p.is_dir():
            inputs.append(identify(p, market))
            continue
        for f in sorted(p.rglob("*")):
            if f.is_file() and f.name.endswith(CANDLE_SUFFIXES):
                try:
                    inputs.append(identify(f, market))
                except UnknownInputError:
                    continue
    return inputs


def collect_inputs(
    *,
    archives: Sequence[Path] = (),
    candles: Sequence[Path] = (),
    recordings: Sequence[Path] = (),
    cache_dir: Path | None = None,
    cache_market: Market = Market.SPOT,
    market: Market | None = None,
    symbols: Sequence[str] = (),
    timeframes: Sequence[str] = (),
) -> list[BacktestInput]:
    """Inputs from the CLI's paths. Archive folders are searched recursively for .zip/.csv; files whose
    names say another symbol or interval than requested are skipped; the cache needs symbols and timeframes.
    `candles` are identified by name (`candle_inputs`); `market` applies where a name cannot tell.
    """
    wanted_symbols = {s.upper() for s in symbols}
    wanted_timeframes = set(timeframes)
    inputs: list[BacktestInput] = []
    for path in _archive_files(archives):
        name = parse_archive_name(path)
        if name is not None:
            if wanted_symbols and name.symbol not in wanted_symbols:
                continue
            if (
                wanted_timeframes
                and name.kind not in ("aggTrades", "trades")
                and name.kind not in wanted_timeframes
            ):
                continue
        inputs.append(ArchiveInput(path, market_in_path(path) or market))
    inputs += candle_inputs(candles, market)
    inputs += [RecordingInput(p) for p in recordings]
    if cache_dir is not None:
        cache = CandleCache(cache_dir)
        for symbol in sorted(wanted_symbols):
            for interval in timeframes:
                if cache.path(cache_market, symbol, interval).exists():
                    inputs.append(CacheInput(cache, cache_market, symbol, interval))
    return inputs


@contextmanager
def rich_progress(console: Console | None = None) -> Iterator[ProgressCallback]:
    """A rich progress display (load files, detect with an event counter, score signals) as a callback."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[signals]} signals"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        tasks: dict[Stage, TaskID] = {}

        def update(p: RunProgress) -> None:
            task = tasks.get(p.stage)
            if task is None:
                label = {
                    Stage.LOAD: "load inputs",
                    Stage.DETECT: "replay events",
                    Stage.SCORE: "score signals",
                }
                task = tasks[p.stage] = bar.add_task(label[p.stage], total=p.total or None, signals=0)
            bar.update(task, completed=p.done, total=p.total or None, signals=p.signals)

        yield update


@contextmanager
def rich_fetch_progress(console: Console | None = None) -> Iterator[Callable[[FetchProgress], None]]:
    """A rich progress bar over the REST pages of a fetch (pages done / planned, bars stored)."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[bars]} bars"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("fetch klines", total=None, bars=0)

        def update(p: FetchProgress) -> None:
            bar.update(task, description=f"fetch {p.symbol}", completed=p.pages_done, total=p.pages_total,
                       bars=p.bars_written)  # fmt: skip

        yield update


async def fetch_command(
    *,
    cache_dir: Path,
    rest: RestSettings,
    clock: Clock,
    symbols: Sequence[str],
    timeframes: Sequence[str],
    date_from: str | date | None = None,
    date_to: str | date | None = None,
    progress: Callable[[FetchProgress], None] | None = None,
) -> list[FetchSummary]:
    """Fill the candle cache from REST (`rest.market`) for every symbol and timeframe; one summary each.

    `date_to` is exclusive and defaults to now on the exchange clock (synced with `GET time`); without
    `date_from` every series must already have a cache to resume from. Raises ValueError for bad
    arguments; REST errors propagate as `BinanceRest` raises them, after what was fetched is stored.
    """
    if not symbols or not timeframes:
        raise ValueError("backtest --fetch needs --symbols and --timeframes")
    cache = CandleCache(cache_dir)
    from_ms = _day_ms(date_from)
    summaries: list[FetchSummary] = []
    async with BinanceRest(rest, clock) as client:
        await client.sync_time()
        to_ms = _day_ms(date_to) or client.server.now_ms()
        for interval in timeframes:
            request = FetchRequest(rest.market, tuple(symbols), interval, from_ms, to_ms)
            summaries.append(await fetch_candles(client, cache, request, progress))
    return summaries


async def backtest_command(
    *,
    archives: Sequence[Path] = (),
    candles: Sequence[Path] = (),
    recordings: Sequence[Path] = (),
    cache_dir: Path | None = None,
    cache_market: Market = Market.SPOT,
    market: Market | None = None,
    symbols: Sequence[str] = (),
    timeframes: Sequence[str] = (),
    date_from: str | date | None = None,
    date_to: str | date | None = None,
    detectors: DetectorsConfig | None = None,
    horizons: Sequence[str] = DEFAULT_HORIZONS,
    out_dir: Path = Path("backtest-report"),
    stats_db: Path | None = None,
    run_id: str = "cli",
    saved_ms: int = 0,
    open_report: bool = False,
    progress: ProgressCallback | None = None,
) -> BacktestRun:
    """Run a backtest and write its report; optionally store hit rates and open the report.

    `date_to` is exclusive. `saved_ms` is the caller's wall-clock time for the stats rows (the CLI reads
    it from `core.clock`). Raises ValueError for bad dates, horizons or when no input matched.
    """
    inputs = collect_inputs(
        archives=archives, candles=candles, recordings=recordings, cache_dir=cache_dir,
        cache_market=cache_market, market=market, symbols=symbols, timeframes=timeframes,
    )  # fmt: skip
    if not inputs:
        raise ValueError(
            "backtest: no input files matched (give --archive, --candles, --recording or --cache)"
        )
    options = BacktestOptions(
        detectors=detectors or DetectorsConfig(),
        horizons=tuple(horizons),
        symbols=frozenset(s.upper() for s in symbols) or None,
        timeframes=frozenset(timeframes) or None,
        from_ms=_day_ms(date_from),
        to_ms=_day_ms(date_to),
    )
    result = await asyncio.to_thread(run_backtest, inputs, options, progress)
    files = await asyncio.to_thread(write_report, result, out_dir)
    if stats_db is not None:
        await save_hit_rates(stats_db, result.hit_rates, run_id, saved_ms)
    opened = open_report and open_in_browser(files.html)
    return BacktestRun(result, files, opened)


def _day_ms(value: str | date | None) -> int | None:
    if value is None:
        return None
    return parse_day_ms(value.isoformat() if isinstance(value, date) else value)
