"""`cryptoradar alerts ...`: test a channel, list stored alerts, manage silences.

Everything here works on the configured store (`storage.backend`: the SQLite file or PostgreSQL).
Silences written here reach running instances on that store within `alerts.silence_refresh_s`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from cryptoradar.alerts.render import Renderer
from cryptoradar.alerts.routing import compile_silence
from cryptoradar.config import Settings
from cryptoradar.core.clock import SystemClock
from cryptoradar.core.errors import CryptoradarError
from cryptoradar.events import Condition, Direction, Severity, Signal
from cryptoradar.sinks import build_sink
from cryptoradar.storage.factory import Store, build_store, describe_store

_NS_PER_S = 1_000_000_000
ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="YAML config file.")]


def test_signal(now_ns: int) -> Signal:
    now_ms = now_ns // 1_000_000
    return Signal(
        detector="cryptoradar",
        rule_version=1,
        kind="test",
        symbol="TESTUSDT",
        timeframe="1m",
        window_start_ms=now_ms,
        window_end_ms=now_ms,
        direction=Direction.NEUTRAL,
        severity=Severity.INFO,
        conditions=(Condition("test", 1.0, ">=", 1.0, True),),
        metrics={},
        labels={"note": "test alert from `cryptoradar alerts test`"},
        symbols=("TESTUSDT",),
        ts_event_ns=now_ns,
    )


async def send_test(settings: Settings, channel: str, console: Console) -> bool:
    config = settings.alerts.channels.get(channel)
    if config is None:
        console.print(
            f"[red]no channel {channel!r}[/red]; defined: {', '.join(sorted(settings.alerts.channels))}"
        )
        return False
    sink = build_sink(channel, config)
    try:
        rendered = Renderer(settings.alerts.templates_dir).render(test_signal(time.time_ns()), 0, config.type)
        for notification in sink.pack([rendered]):
            await sink.send(notification)
    except CryptoradarError as e:
        console.print(f"[red]{channel}: {type(e).__name__}: {e}[/red]")
        return False
    finally:
        await sink.close()
    console.print(f"[green]{channel}: test alert delivered[/green]")
    return True


def _utc(ns: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ns / _NS_PER_S))


def _store(settings: Settings) -> Store:
    return build_store(settings.storage, SystemClock())


async def list_alerts(settings: Settings, limit: int, symbol: str | None, console: Console) -> None:
    store = _store(settings)
    await store.open()
    try:
        rows = await store.list_alerts(symbol=symbol, limit=limit)
    finally:
        await store.close()
    table = Table(title=f"alerts in {describe_store(settings.storage)}")
    for column in ("id", "created (UTC)", "detector", "kind", "symbol", "tf", "direction", "severity"):
        table.add_column(column)
    for row in rows:
        s = row.signal
        created = _utc(row.created_at_ns)
        table.add_row(
            str(row.id), created, s.detector, s.kind, s.symbol, s.timeframe, s.direction, s.severity
        )
    console.print(table)


async def list_failed(settings: Settings, limit: int, console: Console) -> None:
    """Failed deliveries: nothing is dropped without a record here, with where it was rerouted."""
    store = _store(settings)
    await store.open()
    try:
        rows = await store.failed_deliveries(limit=limit)
    finally:
        await store.close()
    table = Table(title=f"failed deliveries in {describe_store(settings.storage)}")
    for column in ("alert", "symbol", "kind", "channel", "reason", "rerouted to"):
        table.add_column(column, overflow="fold")
    for row in rows:
        rerouted = ", ".join(row.rerouted_to) or "-- not rerouted"
        table.add_row(
            str(row.alert_id), row.signal.symbol, row.signal.kind, row.channel, row.reason, rerouted
        )
    console.print(table)


async def list_silences(settings: Settings, console: Console) -> None:
    """Every stored silence, expired ones marked (they stop muting at `until` and are kept for the record)."""
    store = _store(settings)
    await store.open()
    try:
        rows = await store.list_silences()
    finally:
        await store.close()
    now_ns = time.time_ns()
    table = Table(title=f"silences in {describe_store(settings.storage)}")
    for column in ("id", "matchers", "until (UTC)", "state", "created by", "reason"):
        table.add_column(column, overflow="fold")
    for row in rows:
        state = "active" if row.until_ns > now_ns else "expired"
        table.add_row(
            str(row.id), " ".join(row.matchers), _utc(row.until_ns), state, row.created_by, row.reason
        )
    console.print(table)


async def add_silence(settings: Settings, matchers: list[str], duration_s: float, reason: str) -> int:
    until_ns = time.time_ns() + int(duration_s * _NS_PER_S)
    compile_silence(0, matchers, until_ns)  # raises ValueError naming a bad matcher
    store = _store(settings)
    await store.open()
    try:
        return await store.add_silence(
            matchers, until_ns=until_ns, created_by="cli", reason=reason, created_at_ns=time.time_ns()
        )
    finally:
        await store.close()


async def remove_silence(settings: Settings, silence_id: int) -> bool:
    store = _store(settings)
    await store.open()
    try:
        return await store.remove_silence(silence_id)
    finally:
        await store.close()


def register(app: typer.Typer, load: Callable[[Path | None], Settings], console: Console) -> None:
    """Adds the `alerts` sub-commands; `load(config_path)` loads settings the CLI way."""
    alerts_app = typer.Typer(no_args_is_help=True, help="Test channels, list alerts, manage silences.")
    app.add_typer(alerts_app, name="alerts")

    @alerts_app.command("test")
    def test(channel: str, config: ConfigOption = None) -> None:
        """Send a test alert through CHANNEL (as configured under alerts.channels)."""
        if not asyncio.run(send_test(load(config), channel, console)):
            raise typer.Exit(1)

    @alerts_app.command("list")
    def list_(
        limit: int = 20,
        symbol: Annotated[str | None, typer.Option()] = None,
        failed: Annotated[
            bool, typer.Option("--failed", help="Failed deliveries: channel, reason, where rerouted.")
        ] = False,
        config: ConfigOption = None,
    ) -> None:
        """The newest stored alerts (with --failed: the newest failed deliveries)."""
        if failed:
            asyncio.run(list_failed(load(config), limit, console))
        else:
            asyncio.run(list_alerts(load(config), limit, symbol, console))

    @alerts_app.command("silence")
    def silence(
        matchers: Annotated[list[str], typer.Argument(help='Alertmanager matchers, e.g. symbol="BTCUSDT".')],
        hours: Annotated[float, typer.Option(help="How long the silence lasts.")] = 1.0,
        reason: str = "",
        config: ConfigOption = None,
    ) -> None:
        """Mute alerts matching every matcher."""
        try:
            silence_id = asyncio.run(add_silence(load(config), matchers, hours * 3600, reason))
        except ValueError as e:
            console.print(f"[red]{e}[/red]")
            raise typer.Exit(2) from None
        console.print(f"silence {silence_id} created")

    @alerts_app.command("silences")
    def silences(config: ConfigOption = None) -> None:
        """List silences: id (for `unsilence`), matchers, until when, and who made them why."""
        asyncio.run(list_silences(load(config), console))

    @alerts_app.command("unsilence")
    def unsilence(silence_id: int, config: ConfigOption = None) -> None:
        """Remove a silence by id."""
        if not asyncio.run(remove_silence(load(config), silence_id)):
            console.print(f"no silence {silence_id}")
            raise typer.Exit(1)
        console.print(f"silence {silence_id} removed")
