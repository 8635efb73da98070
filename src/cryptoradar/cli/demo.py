"""`cryptoradar demo`: the simulator plus the full pipeline, shown live with rich."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from cryptoradar.alerts.render import fmt_metric
from cryptoradar.app import PipelineStats, Radar, settings_for, sim_options
from cryptoradar.app.service import LoadSettings, reload_from
from cryptoradar.config import Settings
from cryptoradar.core.clock import SystemClock
from cryptoradar.events import Market
from cryptoradar.sim import Simulator


@dataclass
class _Rates:
    """Per-second rates from two snapshots of monotonic counters."""

    last_s: float = field(default_factory=time.monotonic)
    last: dict[str, int] = field(default_factory=dict)
    per_s: dict[str, float] = field(default_factory=dict)

    def update(self, counters: dict[str, int]) -> None:
        now = time.monotonic()
        elapsed = now - self.last_s
        if elapsed >= 1.0:
            self.per_s = {k: (v - self.last.get(k, 0)) / elapsed for k, v in counters.items()}
            self.last, self.last_s = dict(counters), now


@dataclass
class _Bootstrap:
    done: dict[Market, tuple[int, int]] = field(default_factory=dict)

    def __call__(self, market: Market, done: int, total: int) -> None:
        self.done[market] = (done, total)


def _view(radar: Radar, sim: Simulator, rates: _Rates, boot: _Bootstrap, started_s: float) -> Group:
    stats = radar.stats
    counters = radar.summary()
    rates.update(counters)
    dashboard = f"dashboard http://127.0.0.1:{radar.api_port}/" if radar.api_port else "dashboard off"
    head = Table(title=f"cryptoradar demo: simulated exchange on 127.0.0.1, {dashboard}", expand=True)
    for column in (
        "elapsed",
        "exchange time (UTC)",
        "bars closed",
        "trades",
        "liquidations",
        "signals",
        "alerts",
    ):
        head.add_column(column, justify="right")
    exchange_time = time.strftime("%Y-%m-%d %H:%M", time.gmtime(sim.now_ms() / 1000))
    head.add_row(
        f"{time.monotonic() - started_s:5.1f} s",
        exchange_time,
        f"{counters['bars_closed']:,} ({rates.per_s.get('bars_closed', 0):,.0f}/s)",
        f"{counters['trades']:,} ({rates.per_s.get('trades', 0):,.0f}/s)",
        f"{counters['liquidations']:,}",
        f"{counters['signals']:,}",
        f"{counters['alerts']:,}",
    )

    conns = Table(title="connections", expand=True)
    for column in (
        "market",
        "symbols",
        "streams",
        "connections",
        "states",
        "bootstrap",
        "REST weight",
        "queue",
    ):
        conns.add_column(column)
    state = radar.feed_state()
    for market in state.markets:
        states: dict[str, int] = {}
        for info in market.connections:
            states[info.state] = states.get(info.state, 0) + 1
        done, total = boot.done.get(market.market, (0, 0))
        conns.add_row(
            market.market,
            str(market.symbols),
            str(market.streams),
            str(len(market.connections)),
            ", ".join(f"{s} {n}" for s, n in sorted(states.items())) or "-",
            f"{done}/{total}" if total else "-",
            str(market.rest_weight_used),
            f"{state.queue_depth} (dropped {state.queue_dropped})",
        )

    recent = Table(title="latest signals", expand=True)
    for column in ("detector", "kind", "symbol", "tf", "direction", "severity", "key numbers"):
        recent.add_column(column)
    for signal in reversed(stats.recent_signals):
        numbers = ", ".join(f"{k} {fmt_metric(k, v)}" for k, v in list(signal.metrics.items())[:4])
        recent.add_row(
            signal.detector,
            signal.kind,
            signal.symbol,
            signal.timeframe,
            signal.direction,
            signal.severity,
            numbers,
        )
    return Group(head, conns, recent)


def summary_table(radar: Radar, elapsed_s: float) -> Table:
    table = Table(title="demo summary")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("run time", f"{elapsed_s:.1f} s")
    for key, value in radar.summary().items():
        table.add_row(key.replace("_", " "), f"{value:,}")
    for detector, count in sorted(radar.stats.signals.items()):
        table.add_row(f"signals from {detector}", f"{count:,}")
    for what, account in signals_to_alerts(radar.stats):
        table.add_row(what, account)
    state = radar.feed_state()
    table.add_row("events dropped by queue policy", f"{state.queue_dropped:,}")
    return table


def _account(signals: int, alerts: int, reasons: Mapping[str, int]) -> str:
    """The account `N -> M (reason count, ...)`: every signal without an alert under its reason. A
    signal whose submission failed has none and shows as "unexplained" (the gap must stay 0)."""
    listed = [f"{reason} {count:,}" for reason, count in sorted(reasons.items()) if count]
    unexplained = signals - alerts - sum(reasons.values())
    if unexplained:
        listed.append(f"unexplained {unexplained:,}")
    return f"{signals:,} -> {alerts:,}" + (f" ({', '.join(listed)})" if listed else "")


def signals_to_alerts(stats: PipelineStats) -> list[tuple[str, str]]:
    """The "signals -> alerts" rows: all signals, then one row per signal kind."""
    reasons = {str(reason): count for reason, count in stats.suppressed_by.items()}
    rows = [("signals -> alerts", _account(sum(stats.signals.values()), stats.alerts, reasons))]
    outcomes: dict[str, dict[str, int]] = {}
    for (kind, outcome), count in stats.by_kind.items():
        outcomes.setdefault(kind, {})[outcome] = count
    for kind, counts in sorted(outcomes.items()):
        signals, alerts = counts.pop("signals", 0), counts.pop("alerts", 0)
        rows.append((f"signals -> alerts: {kind}", _account(signals, alerts, counts)))
    return rows


def with_sim_overrides(settings: Settings, overrides: dict[str, object]) -> Settings:
    """`settings` with command-line simulator options (symbols, acceleration) applied."""
    if not overrides:
        return settings
    return settings.model_copy(update={"sim": settings.sim.model_copy(update=overrides)})


async def run_demo(
    settings: Settings,
    duration_s: float,
    console: Console,
    stop: asyncio.Event,
    reload: asyncio.Event | None = None,
    load: LoadSettings | None = None,
    state_dir: Path | None = None,
) -> None:
    """Start the simulator and the pipeline against it; render until `duration_s` or `stop`.

    When `reload` is set (SIGHUP) and `load` is given, the configuration is read again and applied.
    The database lives in `state_dir`, or in a temporary folder removed at the end.
    """
    with contextlib.ExitStack() as stack:
        var_dir = state_dir or Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="cryptoradar-demo-"))
        )
        async with Simulator(sim_options(settings)) as sim:

            def for_demo(loaded: Settings) -> Settings:
                pointed = settings_for(sim, loaded, var_dir)
                # Port 0: a demo never fails because something else holds the configured port; the URL is shown.
                return pointed.model_copy(update={"api": pointed.api.model_copy(update={"port": 0})})

            boot = _Bootstrap()
            # The market side runs on the exchange's clock, as against a real exchange: bars close, go
            # stale and get gap-filled at the simulator's pace. Alerts keep wall time: a channel's rate
            # limits, retries and group waits are real seconds, whatever the simulation's speed.
            radar = Radar(
                for_demo(settings),
                clock=sim.clock,
                alert_clock=SystemClock(),
                progress=boot,
                resume_series=False,
            )
            started_s = time.monotonic()
            await radar.start()
            rates = _Rates()
            try:
                with Live(console=console, refresh_per_second=4, transient=False) as live:
                    while not stop.is_set() and time.monotonic() - started_s < duration_s:
                        live.update(_view(radar, sim, rates, boot, started_s))
                        if reload is not None and reload.is_set() and load is not None:
                            reload.clear()
                            await reload_from(radar, lambda: for_demo(load()))
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(stop.wait(), timeout=0.5)
            finally:
                await radar.stop(timeout_s=settings.lifecycle.shutdown_deadline_s * 0.9)
            console.print(summary_table(radar, time.monotonic() - started_s))
