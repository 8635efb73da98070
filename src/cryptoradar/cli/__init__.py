"""Command line: `cryptoradar --help`.

Each command is a thin shell: it loads config, builds what it needs through `app`, and renders with rich.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import re
import signal
import sys
from collections.abc import Coroutine
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.text import Text

from cryptoradar.config import Settings, load_settings, redacted_dump
from cryptoradar.config.loader import ENV_FILE_VAR
from cryptoradar.core.errors import ConfigError, CryptoradarError, StartupError

if TYPE_CHECKING:
    from cryptoradar.app import Radar

app = typer.Typer(no_args_is_help=True, help="Real-time crypto market alerts over WebSockets.")
config_app = typer.Typer(no_args_is_help=True, help="Inspect and validate configuration.")
app.add_typer(config_app, name="config")
bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks that need real local services.")
app.add_typer(bench_app, name="bench")

console = Console()
err_console = Console(stderr=True)
_BIND_ADDRESS = re.compile(r"address \('?([^',]*)'?, (\d+)")
"""asyncio's bind error: "error while attempting to bind on address ('127.0.0.1', 8080): ..."."""
_SIM_PORTS = "sim.spot_port / sim.futures_port; 0 picks a free one"

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="YAML config file (default: packaged defaults).")
]


def _print_version(value: bool) -> None:
    if value:
        console.print(f"cryptoradar {version('cryptoradar')}", highlight=False)
        raise typer.Exit()


@app.callback()
def _main_options(
    show_version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
    env_file: Annotated[
        Path | None,
        typer.Option(
            help="Variables for ${VAR} and CRYPTORADAR__* overrides (default: ./.env if present); "
            "the real environment wins."
        ),
    ] = None,
) -> None:
    if env_file is not None:
        # Through the environment, so reloads (SIGHUP) and every command's config loading read it too.
        os.environ[ENV_FILE_VAR] = str(env_file)


def _report(what: str, message: str) -> None:
    """The one way an error reaches the user: one unwrapped line on stderr (no markup read from the
    message, which may hold `[...]`)."""
    err_console.print(Text.assemble((what, "red"), f": {message}"), soft_wrap=True, highlight=False)


def _fail(what: str, message: str, code: int) -> NoReturn:
    _report(what, message)
    raise typer.Exit(code)


def _load(file: Path | None) -> Settings:
    try:
        return load_settings(file)
    except ConfigError as e:
        _fail("config error", str(e), 2)


def _run_until_signalled(
    main: Coroutine[Any, Any, None],
    stop: asyncio.Event,
    reload: asyncio.Event | None = None,
    *,
    port_setting: str = "",
) -> None:
    """Run `main` with SIGINT/SIGTERM setting `stop` (and SIGHUP setting `reload`, when given), so every
    command shuts down the same clean way. A port already taken becomes a `StartupError` naming the
    address and `port_setting`, the key that moves it."""

    async def runner() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if reload is not None:
            loop.add_signal_handler(signal.SIGHUP, reload.set)
        await main

    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(runner())
    except OSError as e:
        if e.errno != errno.EADDRINUSE:
            raise
        found = _BIND_ADDRESS.search(str(e))
        address = f"{found[1]}:{found[2]}" if found else "a port it needs"
        raise StartupError(
            f"{address} is already in use; stop the program listening there or set another port "
            f"({port_setting or 'see `cryptoradar config check`'})"
        ) from None


def _configure_logging(settings: Settings, level: str | None = None) -> None:
    from cryptoradar.app.logs import configure_logging_for

    try:
        configure_logging_for(settings, level=level)
    except OSError as e:
        # The handler creates missing folders, so only a path that cannot be written gets here.
        raise StartupError(
            f"log.file.path: cannot write {settings.log.file.path} ({e.strerror}); choose a path in a "
            "writable folder or remove log.file.path to log to stderr only"
        ) from None


@config_app.command("check")
def config_check(
    file: Annotated[
        Path | None, typer.Argument(help="YAML config file (default: packaged defaults).")
    ] = None,
) -> None:
    """Validate a config file and print the effective config with secrets redacted."""
    settings = _load(file)
    console.print_json(json.dumps(redacted_dump(settings)))


@app.command()
def demo(
    config: ConfigOption = None,
    duration: Annotated[float, typer.Option(help="Seconds to run before printing the summary.")] = 60.0,
    symbols: Annotated[int | None, typer.Option(help="Spot symbols in the simulator.")] = None,
    acceleration: Annotated[float | None, typer.Option(help="Simulated seconds per wall second.")] = None,
    log_level: Annotated[str, typer.Option(help="Log level while the live view runs.")] = "WARNING",
    state_dir: Annotated[
        Path | None, typer.Option(help="Keep the database here (default: a temporary folder).")
    ] = None,
) -> None:
    """Run the exchange simulator and the full pipeline against it, offline, and show what arrives."""
    from cryptoradar.cli.demo import run_demo, with_sim_overrides

    settings = _load(config)
    overrides: dict[str, object] = {}
    if symbols is not None:
        overrides["symbols"] = symbols
    if acceleration is not None:
        overrides["acceleration"] = acceleration
    settings = with_sim_overrides(settings, overrides)
    _configure_logging(settings, level=log_level.upper())
    stop, reload = asyncio.Event(), asyncio.Event()

    def load_again() -> Settings:
        return with_sim_overrides(load_settings(config), overrides)

    _run_until_signalled(
        run_demo(settings, duration, console, stop, reload, load_again, state_dir),
        stop,
        reload,
        port_setting=_SIM_PORTS,
    )


async def _first(*waits: Coroutine[Any, Any, object]) -> None:
    """Until the first of `waits` finishes; the others are cancelled."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@app.command()
def run(config: ConfigOption = None) -> None:
    """Watch live Binance (packaged defaults or your config) until SIGINT/SIGTERM; SIGHUP reloads."""
    from cryptoradar.app import Radar
    from cryptoradar.app.service import serve
    from cryptoradar.sources.binance.feed import rich_bootstrap_progress

    settings = _load(config)
    _configure_logging(settings)

    async def main(stop: asyncio.Event, reload: asyncio.Event) -> None:
        with rich_bootstrap_progress(console) as progress:
            radar = Radar(settings, progress=progress)
            try:
                await radar.start()
            except OSError:
                # A port taken: what already started (the feed's HTTP sessions) is closed before the message.
                await radar.stop()
                raise
            await _first(radar.feed.wait_bootstrapped(), stop.wait())
        silent = _markets_without_data(radar, settings)
        if not await serve(radar, stop, reload, lambda: load_settings(config)):
            raise typer.Exit(1)
        if silent:
            # Stopped (Ctrl-C) before Binance ever answered: not a success, and the user should learn why.
            raise StartupError(
                f"stopped before Binance answered: no data from {', '.join(silent)} (no network, DNS, proxy "
                "or firewall?); check the connection, or try `cryptoradar demo`, which runs offline"
            )
        console.print(radar.summary())

    stop, reload = asyncio.Event(), asyncio.Event()
    _run_until_signalled(main(stop, reload), stop, reload, port_setting="api.port")


def _markets_without_data(radar: Radar, settings: Settings) -> list[str]:
    """The REST hosts of the markets that have not bootstrapped yet, when no market data came at all: a
    stop during a long bootstrap, after Binance answered, is not "no network"."""
    from urllib.parse import urlsplit

    from cryptoradar.events import Market

    stats = radar.stats
    if stats.bars_closed or stats.trades or stats.liquidations:
        return []
    endpoints = {Market.SPOT: settings.binance.spot}
    if settings.universe.futures:
        endpoints[Market.USDM] = settings.binance.futures
    return [
        urlsplit(cfg.rest_url).hostname or cfg.rest_url
        for market, cfg in endpoints.items()
        if not radar.feed.market(market).bootstrapped.is_set()
    ]


@app.command()
def sim(
    config: ConfigOption = None,
    port: Annotated[
        int | None, typer.Option(help="Spot port (default sim.spot_port; 0 picks a free one).")
    ] = None,
    futures_port: Annotated[int | None, typer.Option(help="USD-M port (default sim.futures_port).")] = None,
    acceleration: Annotated[
        float | None,
        typer.Option(help="Exchange seconds per wall second; 1 is real time (default sim.acceleration)."),
    ] = None,
    start: Annotated[
        str | None,
        typer.Option(
            help="Exchange time to start at: 'now' (REST history lines up with your clock) or ISO UTC."
        ),
    ] = None,
) -> None:
    """Run the exchange simulator alone on 127.0.0.1 and print its URLs (for any Binance client)."""
    import dataclasses

    from cryptoradar.app import sim_options
    from cryptoradar.cli.demo import with_sim_overrides
    from cryptoradar.sim import run_simulator

    start_ms = _start_ms(start)
    overrides = {"spot_port": port, "futures_port": futures_port, "acceleration": acceleration}
    settings = with_sim_overrides(_load(config), {k: v for k, v in overrides.items() if v is not None})
    _configure_logging(settings)
    options = dataclasses.replace(sim_options(settings), start_time_ms=start_ms)
    stop = asyncio.Event()
    _run_until_signalled(
        run_simulator(options, stop, announce=console.print),
        stop,
        port_setting="--port / --futures-port (sim.spot_port / sim.futures_port); 0 picks a free one",
    )


def _start_ms(start: str | None) -> int | None:
    """`--start`: None keeps the seeded date, 'now' is the wall clock, else an ISO time (UTC unless stated)."""
    from datetime import UTC, datetime

    if start is None:
        return None
    if start == "now":
        return int(datetime.now(UTC).timestamp() * 1000)
    try:
        when = datetime.fromisoformat(start)
    except ValueError:
        raise typer.BadParameter(
            f"{start!r}: use 'now' or an ISO time like 2026-03-01T12:00", param_hint="--start"
        ) from None
    return int((when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp() * 1000)


@app.command()
def record(
    out: Annotated[
        Path, typer.Argument(help="Output file, zstd-compressed JSON lines (e.g. session.jsonl.zst).")
    ],
    duration: Annotated[float, typer.Option(help="Seconds to record.")] = 60.0,
    from_sim: Annotated[bool, typer.Option("--sim", help="Record the built-in simulator (offline).")] = False,
    config: ConfigOption = None,
) -> None:
    """Record raw WebSocket frames with receive times, replayable through the same parser."""
    from cryptoradar.cli.record import run_record

    if not out.parent.is_dir():
        raise StartupError(f"cannot write {out}: folder {out.parent} does not exist; create it first")
    settings = _load(config)
    _configure_logging(settings)
    stop = asyncio.Event()
    _run_until_signalled(run_record(settings, out, duration, from_sim, console, stop), stop)


@app.command()
def replay(
    files: Annotated[
        list[Path], typer.Argument(help="Recordings (.jsonl.zst, shared .txt) or archive CSV/zip files.")
    ],
    pace: Annotated[
        float | None, typer.Option(help="1.0 keeps the recorded gaps; omit for full speed (recordings only).")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Feed recordings or data.binance.vision files through the parser and the detectors; print counts."""
    from cryptoradar.cli.replay import run_replay

    for file in files:
        if not file.is_file():
            raise StartupError(
                f"{file}: no such file; pass a recording made by `cryptoradar record` or a "
                "data.binance.vision CSV/zip"
            )
    settings = _load(config)
    _configure_logging(settings)
    stop = asyncio.Event()
    _run_until_signalled(run_replay(settings, files, pace, console, stop), stop)


@app.command()
def backtest(
    archive: Annotated[list[Path], typer.Option(help="data.binance.vision kline/aggTrades CSV or zip.")] = [],  # noqa: B006
    candles: Annotated[
        list[Path],
        typer.Option(
            help="Candle files or folders, identified by name: freqtrade .feather/.json "
            "(BTC_USDT-5m, BTC_USDT_USDT-5m-futures), data.binance.vision CSV/zip, JSON arrays."
        ),
    ] = [],  # noqa: B006
    recording: Annotated[list[Path], typer.Option(help="Recordings made by `cryptoradar record`.")] = [],  # noqa: B006
    symbols: Annotated[str, typer.Option(help="Comma-separated symbols to keep (default: all).")] = "",
    timeframes: Annotated[str, typer.Option(help="Comma-separated intervals to keep (default: all).")] = "",
    date_from: Annotated[str | None, typer.Option("--from", help="First day, YYYY-MM-DD (UTC).")] = None,
    date_to: Annotated[
        str | None, typer.Option("--to", help="Day after the last, YYYY-MM-DD (exclusive).")
    ] = None,
    out: Annotated[Path, typer.Option(help="Report folder.")] = Path("backtest-report"),
    stats_db: Annotated[Path | None, typer.Option(help="Store hit rates here for alert enrichment.")] = None,
    open_report: Annotated[bool, typer.Option("--open", help="Open the HTML report in a browser.")] = False,
    cache: Annotated[
        Path | None, typer.Option(help="Candle cache folder (read; with --fetch, filled first).")
    ] = None,
    market: Annotated[
        str | None,
        typer.Option(
            help="spot or usdm: of the cache, of --fetch, and of files whose name cannot tell (default spot)."
        ),
    ] = None,
    fetch: Annotated[
        bool,
        typer.Option("--fetch", help="Fetch --symbols x --timeframes klines from REST into --cache first."),
    ] = False,
    rest_url: Annotated[
        str | None, typer.Option(help="REST base URL for --fetch (default: from config).")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Run history through the live detectors; write an HTML report, CSV/JSON of signals and hit rates."""
    from cryptoradar.backtest.command import (
        backtest_command,
        fetch_command,
        rich_fetch_progress,
        rich_progress,
    )
    from cryptoradar.core.clock import SystemClock
    from cryptoradar.core.errors import PermanentError, RetryableError
    from cryptoradar.events import Market
    from cryptoradar.sources.binance.rest import RestSettings

    settings = _load(config)
    _configure_logging(settings)
    symbol_list = [s for s in symbols.split(",") if s]
    timeframe_list = [t for t in timeframes.split(",") if t]

    async def main(stop: asyncio.Event) -> None:
        if market not in (None, *Market):
            raise ValueError(f"--market {market}: use spot or usdm")
        cache_market = Market(market or Market.SPOT)
        if fetch:
            if cache is None:
                raise ValueError("--fetch needs --cache (the folder to fill)")
            endpoints = settings.binance.spot if cache_market is Market.SPOT else settings.binance.futures
            rest = RestSettings(cache_market, rest_url or endpoints.rest_url, endpoints.weight_budget_per_min)
            with rich_fetch_progress(console) as fetch_progress:
                fetched = await fetch_command(
                    cache_dir=cache, rest=rest, clock=SystemClock(), symbols=symbol_list,
                    timeframes=timeframe_list, date_from=date_from, date_to=date_to, progress=fetch_progress,
                )  # fmt: skip
            console.print(f"fetched {sum(sum(f.bars_written.values()) for f in fetched):,} bars into {cache}")
        with rich_progress(console) as progress:
            run = await backtest_command(
                cache_dir=cache,
                cache_market=cache_market,
                market=Market(market) if market else None,
                archives=archive,
                candles=candles,
                recordings=recording,
                symbols=symbol_list,
                timeframes=timeframe_list,
                date_from=date_from,
                date_to=date_to,
                detectors=settings.detectors,
                out_dir=out,
                stats_db=stats_db,
                saved_ms=SystemClock().now_ns() // 1_000_000,
                open_report=open_report,
                progress=progress,
            )
        for line in run.result.timeframes.notes():
            (err_console if "never fire" in line else console).print(line, markup=False, soft_wrap=True)
        console.print(
            f"{run.result.bars:,} bars, {len(run.result.signals):,} signals; report: {run.files.html}"
        )

    stop = asyncio.Event()
    try:
        _run_until_signalled(main(stop), stop)
    except ValueError as e:
        err_console.print(f"[red]backtest[/red]: {e}")
        raise typer.Exit(2) from None
    except (RetryableError, PermanentError) as e:
        err_console.print(f"[red]backtest --fetch[/red]: {e} (what was fetched is kept; run again to resume)")
        raise typer.Exit(1) from None


@app.command()
def evaluate(
    seeds: Annotated[str, typer.Option(help="Comma-separated simulator seeds.")] = "11,12",
    symbols: Annotated[int, typer.Option(help="Spot symbols per seed.")] = 300,
    days: Annotated[float, typer.Option(help="Simulated days scored per seed.")] = 1.0,
    workers: Annotated[int, typer.Option(help="Processes to run seeds in.")] = 2,
    candles: Annotated[
        list[Path],
        typer.Option(
            help="Real candle files or folders instead of the simulator (formats as backtest --candles)."
        ),
    ] = [],  # noqa: B006
    market: Annotated[
        str | None, typer.Option(help="spot or usdm, for candle files whose name cannot tell (default spot).")
    ] = None,
    score_from: Annotated[
        str | None,
        typer.Option(help="With --candles: score from this UTC date (YYYY-MM-DD); all data warms up."),
    ] = None,
    score_to: Annotated[str | None, typer.Option(help="With --candles: score before this UTC date.")] = None,
    fee_pct: Annotated[
        float,
        typer.Option(help="With --candles: fee plus slippage per side, percent (confluence net rates)."),
    ] = 0.1,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="With --candles: also write the report as JSON here.")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Precision and recall of every detector against the simulator's labelled scenarios: of its signals,
    and of the alerts they become (dedup, cooldown, routing); signals without an alert by reason.
    With --candles: real candles through the detectors, signals per detector and symbol."""
    from cryptoradar.evaluate import (
        evaluate_command,
        render_alert_table,
        render_suppressed_table,
        render_table,
    )

    settings = _load(config)
    if candles:
        _evaluate_candles(candles, market, settings, (score_from, score_to, fee_pct, json_out))
        return
    report = evaluate_command(
        [int(s) for s in seeds.split(",") if s],
        symbols=symbols,
        days=days,
        config=settings.detectors,
        workers=workers,
        alerts=settings.alerts,
    )
    console.print(render_table(report))
    console.print(render_alert_table(report))
    console.print(render_suppressed_table(report))


def _evaluate_candles(
    paths: list[Path],
    market: str | None,
    settings: Settings,
    scoring: tuple[str | None, str | None, float, Path | None],
) -> None:
    from rich.markup import escape

    from cryptoradar.evaluate.candles import evaluate_candles, render_candle_table
    from cryptoradar.evaluate.real_report import real_options, real_report, render_real_tables
    from cryptoradar.events import Market

    _configure_logging(settings)
    try:
        if market not in (None, *Market):
            raise ValueError(f"--market {market}: use spot or usdm")
        options = real_options(*scoring[:3])
        evaluation = evaluate_candles(paths, settings.detectors, Market(market) if market else None)
    except ValueError as e:
        err_console.print(f"[red]evaluate[/red]: {escape(str(e))}", soft_wrap=True)
        raise typer.Exit(2) from None
    for line in evaluation.timeframes.notes():
        (err_console if "never fire" in line else console).print(line, markup=False, soft_wrap=True)
    console.print(render_candle_table(evaluation))
    report = real_report(evaluation, options)
    for table in render_real_tables(report):
        console.print(table, width=max(console.width, 200))  # many columns: wider than a terminal
    if scoring[3] is not None:
        try:
            scoring[3].write_text(json.dumps(report.to_json(), indent=1, allow_nan=False))
        except OSError as e:
            err_console.print(
                f"[red]evaluate[/red]: --json {escape(str(scoring[3]))}: {escape(e.strerror or str(e))}"
            )
            raise typer.Exit(1) from None


@bench_app.command("wallets")
def bench_wallets(
    duration: Annotated[float, typer.Option(help="Seconds per mode.")] = 40.0,
) -> None:
    """WebSocket vs polling detection of wallet trades on a real local chain (ganache, from npm)."""
    from cryptoradar.sources.evm.bench import run_wallet_benchmark
    from cryptoradar.storage.evm_sqlite import SqliteWalletStore

    report = run_wallet_benchmark(SqliteWalletStore.open, duration_s=duration)
    # Unwrapped and literal: the table rows stay pasteable markdown at any terminal width.
    console.print(report.to_markdown(), soft_wrap=True, markup=False)


def _register_alerts() -> None:
    from cryptoradar.cli.alerts import register

    register(app, _load, console)


_register_alerts()


def _register_init() -> None:
    from cryptoradar.cli.init import register

    register(app, console, err_console)


_register_init()


def main() -> None:
    """The entry point: every error a command raises on purpose ends here as one line, never a traceback."""
    try:
        app()
    except CryptoradarError as e:
        _report("config error" if isinstance(e, ConfigError) else "error", str(e))
        sys.exit(2 if isinstance(e, ConfigError) else 1)
