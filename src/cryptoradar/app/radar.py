"""Composition root: builds everything from config, starts in order, stops in reverse.

Data flow: `BinanceFeed` (bounded queue) -> `DetectorSet` (pure) -> `AlertService` (outbox, delivery)
-> sinks. The only module that sees every layer.

Lifecycle: `start()` anchors the feed from the saved last-closed bars (so the gap filler fetches what
closed while the process was down, before live bars); `stop()` stops the sources, lets the pipeline
finish every queued event, flushes the detectors, saves state, flushes the outbox and closes the rest;
`reload(settings)` applies thresholds, alert routing/templates/silences and logging without touching
the connections (see `app/reload.py`).
"""

from __future__ import annotations

import asyncio
import functools
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from cryptoradar import __version__
from cryptoradar.alerts.enrich import MarketContextEnricher
from cryptoradar.alerts.rules import Suppression
from cryptoradar.alerts.service import AlertService
from cryptoradar.api import ApiServer, LiveHub, LiveKind, StandardHealth, secret_values
from cryptoradar.api.summary import HealthSummary
from cryptoradar.api.views import AlertView
from cryptoradar.app.guard import Outcome, PipelineErrors, Stage, with_store_retry
from cryptoradar.app.health import ErrorLogCounter, HealthTracker, PipelineLiveness, log_health_summaries
from cryptoradar.app.http import AlertsAdapter, MarketAdapter, RecentBars, store_probe
from cryptoradar.app.logs import configure_logging_for
from cryptoradar.app.reload import ReloadPlan, plan_reload, rebuild_detectors, warm
from cryptoradar.app.state import (
    BarJournal,
    HistoryGate,
    ProcessedBars,
    load_last_closed,
    load_recent_bars,
    save_last_closed,
    save_recent_bars,
)
from cryptoradar.app.wallets import WalletPath
from cryptoradar.backtest.stats import HitRateTable, radar_symbol_group
from cryptoradar.backtest.stats_store import load_hit_rates
from cryptoradar.compiled import compiled_in_use
from cryptoradar.config import Settings
from cryptoradar.config.alerts import ChannelConfig
from cryptoradar.config.binance import MarketEndpoints
from cryptoradar.core.clock import Clock, SystemClock
from cryptoradar.core.intervals import FIXED_INTERVAL_MS
from cryptoradar.core.metrics import ALERTS_SUPPRESSED, BUILD_INFO, EVENT_TO_SIGNAL_S, HISTORY_SIGNALS
from cryptoradar.core.supervisor import RestartPolicy, TaskSupervisor
from cryptoradar.detectors.engine import DetectorSet
from cryptoradar.events import (
    Bar,
    BookTicker,
    Event,
    FeedStatus,
    Liquidation,
    Market,
    MarkPrice,
    Signal,
    Trade,
    WalletTrade,
)
from cryptoradar.notifications import Sink
from cryptoradar.sinks import build_sink
from cryptoradar.sources.binance.feed import BinanceFeed, FeedState, ProgressCallback
from cryptoradar.storage.factory import build_store

if TYPE_CHECKING:
    # The simulator (and numpy) is loaded only by the commands that start one.
    from cryptoradar.sim import SimOptions, Simulator

log = structlog.get_logger(__name__)

_CHART_BARS_PER_SERIES = 120
"""Closed bars kept per series for the dashboard chart: 300 symbols x 4 intervals stay near 15 MB."""
_RELOAD_FLUSH_S = 5.0
"""How long a reload lets the old alert service deliver what it holds before the new one resumes it."""
_NS_PER_S = 1e9

SinkFactory = Callable[[str, ChannelConfig], Sink]


@dataclass
class PipelineStats:
    """What flowed through the pipeline; read by the demo view and the health summary."""

    bars_closed: int = 0
    trades: int = 0
    liquidations: int = 0
    signals: Counter[str] = field(default_factory=Counter)
    alerts: int = 0
    """Signals that became an alert with at least one channel to go to."""
    suppressed_by: Counter[Suppression] = field(default_factory=Counter)
    """Every other signal, by why it got no alert: with `alerts` they add up to the signals submitted."""
    by_kind: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(signal kind, "signals" | "alerts" | a suppression reason) -> count: the same account per kind."""
    recent_signals: deque[Signal] = field(default_factory=lambda: deque(maxlen=12))

    def on_signal(self, signal: Signal) -> None:
        self.signals[signal.detector] += 1
        self.by_kind[(signal.kind, "signals")] += 1

    def on_outcome(self, signal: Signal, suppressed: Suppression | None) -> None:
        """The signal became an alert (`suppressed` None) or did not, for that reason."""
        if suppressed is None:
            self.alerts += 1
            self.by_kind[(signal.kind, "alerts")] += 1
        else:
            self.suppressed_by[suppressed] += 1
            self.by_kind[(signal.kind, suppressed)] += 1

    @property
    def history(self) -> int:
        """Signals about warm-up bars (see `app.state.HistoryGate`): shown and counted, not alerted."""
        return self.suppressed_by[Suppression.HISTORY]

    @property
    def suppressed(self) -> int:
        """Signals the alert service held back (silence, cooldown, duplicate, no route)."""
        return sum(self.suppressed_by.values()) - self.history


class Radar:
    """The running service: one feed, one detector set, one alert service, one store.

    `sink_factory` builds a channel's sink from its config (default: `sinks.build_sink`); a reload that
    changes `alerts` builds fresh sinks with it. `on_health_summary` also receives each periodic summary.
    `clock` is the market's time (feed, freshness, history, latency metrics); `alert_clock` (default: the
    same) paces the alert pipeline, which must stay in wall time when the market is a simulation running
    faster than real time (the demo). `resume_series=False` ignores the saved last-closed bars (the demo's simulator starts afresh each run,
    so a saved position would lie in its future).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        alert_clock: Clock | None = None,
        sink_factory: SinkFactory = build_sink,
        progress: ProgressCallback | None = None,
        on_health_summary: Callable[[HealthSummary], None] | None = None,
        resume_series: bool = True,
    ) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self._alert_clock = alert_clock or self.clock
        self.stats = PipelineStats()
        self.health = HealthTracker(self.clock)
        self._error_counter = ErrorLogCounter(self.health)
        self.store = build_store(settings.storage, self.clock)
        self.detectors = DetectorSet(settings.detectors)
        self._sink_factory = sink_factory
        self.alerts = self._build_alerts(settings)
        self.feed = BinanceFeed(settings.binance, settings.universe, self.clock, progress=progress)
        self.wallets = WalletPath(settings, self, self.clock, on_status=self._publish_status)
        self.live = LiveHub(settings.api.sse_queue_size)
        self.recent_bars = RecentBars(_CHART_BARS_PER_SERIES)
        self.processed = ProcessedBars()
        self.history = HistoryGate()
        self.api: ApiServer | None = None
        self.api_port: int | None = None
        self._on_health_summary = on_health_summary
        self._resume_series = resume_series
        self._journal: BarJournal | None = None
        lifecycle = settings.lifecycle
        self._supervisor = TaskSupervisor(
            "radar",
            RestartPolicy(
                lifecycle.task_restart_initial_s,
                lifecycle.task_restart_max_s,
                lifecycle.task_restart_give_up_s,
            ),
            events=self,
        )
        self.failed = asyncio.Event()
        """Set when a task could not recover: the service stops and the process exits non-zero."""
        self.liveness = PipelineLiveness(lambda: len(self.feed.queue), lifecycle.pipeline_stall_s)
        self._errors = PipelineErrors()
        self._pipeline_task: asyncio.Task[None] | None = None
        self._stopping = False
        self._handling_event = False
        self._alerts_lock = asyncio.Lock()
        self._reload_lock = asyncio.Lock()
        self._releasing: asyncio.Future[None] | None = None

    def _build_alerts(self, settings: Settings, previous: AlertService | None = None) -> AlertService:
        sinks = {
            name: self._sink_factory(name, channel)
            for name, channel in settings.alerts.channels.items()
            if channel.enabled
        }
        enricher = previous.enricher if previous is not None else None
        return AlertService(
            settings.alerts, self.store, sinks, self._alert_clock, market_clock=self.clock, enricher=enricher
        )

    # --- lifecycle ---------------------------------------------------------------------------------

    async def _load_hit_rates(self) -> None:
        """Backtest hit rates for the alerts' "hit rate of similar setups" line; without them it says n/a."""
        cfg = self.settings.alerts.enrichment
        enricher = self.alerts.enricher
        if cfg.hit_rates_db is None or not isinstance(enricher, MarketContextEnricher):
            return
        if not cfg.hit_rates_db.is_file():
            log.warning("hit_rates_db_missing", path=str(cfg.hit_rates_db))
            return
        try:
            rows = await load_hit_rates(cfg.hit_rates_db)
        except Exception as e:  # a foreign or damaged file costs the line, not the radar
            log.warning("hit_rates_unreadable", path=str(cfg.hit_rates_db), error=repr(e))
            return
        grouper = radar_symbol_group(self.settings.detectors.radar)
        table = HitRateTable(rows, grouper, cfg.hit_rate_min_signals)
        enricher.hit_rate = functools.partial(table.context_line, horizon=cfg.hit_rate_horizon)
        log.info("hit_rates_loaded", rows=len(rows), horizon=cfg.hit_rate_horizon)

    async def start(self) -> None:
        """Store, saved series state, alerts (resumes pending deliveries), pipeline, feed, API, tasks."""
        self._error_counter.install()
        asyncio.get_running_loop().set_exception_handler(self._on_loop_exception)
        await self.store.open()
        if self._resume_series:
            await self._restore_series()
        if self.settings.lifecycle.bar_journal_path is not None:
            self._journal = BarJournal(self.settings.lifecycle.bar_journal_path)
        await self._load_hit_rates()
        await self.alerts.start()
        await self.wallets.start()
        self._pipeline_task = self._supervisor.keep(self._pipeline, "pipeline")
        self._supervisor.keep(self._release_held_bars, "bar-close-release")
        await self.feed.start()
        market_view = MarketAdapter(self.feed, self.recent_bars)
        if self.settings.api.enabled:
            alerts_view = AlertsAdapter(lambda: self.alerts)
            self.api = ApiServer(
                self.settings.api,
                health=StandardHealth(
                    market_view,
                    alerts_view,
                    store_probe(self.store, self._on_store_probe),
                    self.settings.api.stale_after_intervals,
                    bootstrap=market_view.bootstrap,
                    liveness=self.liveness.check,
                ),
                alerts=alerts_view,
                market=market_view,
                live=self.live,
                clock=self.clock,
                secrets=secret_values(self.settings),
            )
            self.api_port = await self.api.start()
        lifecycle = self.settings.lifecycle
        self._supervisor.keep(
            functools.partial(
                log_health_summaries,
                self.health,
                market_view.connections,
                lifecycle.health_summary_interval_s,
                self._on_health_summary,
            ),
            "health-summary",
        )
        self._supervisor.keep(
            functools.partial(self._save_state_every, lifecycle.state_save_interval_s), "save-state"
        )
        compiled = compiled_in_use()
        BUILD_INFO.labels(__version__, str(compiled).lower()).set(1)
        log.info(
            "radar_started",
            api_port=self.api_port,
            series_restored=len(self.processed.last_closed),
            version=__version__,
            compiled=compiled,
        )

    async def _restore_series(self) -> None:
        """Anchor each series at its last processed closed bar (the gap filler then fetches the rest) and
        warm the detectors and the chart with the bars kept at the last shutdown."""
        recent = await load_recent_bars(self.store)
        for bar in recent:
            self.recent_bars.add(bar)
        warm(self.detectors, recent)
        saved = await load_last_closed(self.store)
        self.processed = ProcessedBars(saved)
        self.history = HistoryGate(saved)
        for (market, symbol, interval), open_ms in saved.items():
            try:
                closer = self.feed.market(market).closer
            except KeyError:
                continue  # that market is no longer configured
            closer.anchor(symbol, interval, open_ms)

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Within about `timeout_s`: stop the feed, process everything it queued, flush the detectors,
        save the series state, flush the outbox, then close the API and the store. Every step runs even
        when an earlier one failed (each failure is logged): the outbox flush above all."""
        await _step("feed", lambda: self.feed.stop(timeout_s * 0.2))
        await _step("wallets", lambda: self.wallets.stop(timeout_s * 0.1))
        await _step("pipeline", lambda: self._finish_pipeline(timeout_s * 0.2))
        await _step("tasks", lambda: self._supervisor.stop(1.0))
        releasing = self._releasing
        if releasing is not None:
            # Signals the timer released are already out of the detectors.
            await _step("release", lambda: asyncio.wait([releasing]))
        await _step("detectors", lambda: self._submit_all(self.detectors.flush()))
        await _step("series-state", self.save_state)
        await _step("recent-bars", lambda: save_recent_bars(self.store, self.recent_bars.history()))
        await _step("outbox", lambda: self._stop_alerts(timeout_s * 0.4))
        api, journal = self.api, self._journal
        if api is not None:
            await _step("api", api.stop)
        self.live.close()
        if journal is not None:
            await _step("journal", lambda: asyncio.to_thread(journal.close))
        await _step("store", self.store.close)
        self._error_counter.remove()
        asyncio.get_running_loop().set_exception_handler(None)
        log.info("radar_stopped", **self.summary())

    async def _stop_alerts(self, flush_timeout_s: float) -> None:
        async with self._alerts_lock:
            await self.alerts.stop(flush_timeout_s=flush_timeout_s)

    async def _finish_pipeline(self, timeout_s: float) -> None:
        """Let the pipeline handle what is queued; cancel it only between events (waiting for one, or
        waiting to be restarted after a death), never half-way through one (a cancelled submit would
        lose an alert)."""
        self._stopping = True
        task = self._pipeline_task
        if task is not None and not task.done():
            if not self._handling_event:
                task.cancel()
            _, pending = await asyncio.wait([task], timeout=timeout_s)
            if pending:
                log.warning("pipeline_drain_timeout", timeout_s=timeout_s, queued=len(self.feed.queue))
        while len(self.feed.queue):
            await self._handle(self.feed.queue.get_nowait())
            self.liveness.advanced()

    async def save_state(self) -> None:
        await save_last_closed(self.store, self.processed.last_closed)

    async def _save_state_every(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            await self.save_state()

    # --- reload ------------------------------------------------------------------------------------

    async def reload(self, new: Settings) -> ReloadPlan:
        """Apply what changed between the running settings and `new` without reconnecting anything.

        Rejected as a whole (logged with every offending key) when a key that needs a restart changed.
        """
        async with self._reload_lock:
            old = self.settings
            plan = plan_reload(old, new)
            if not plan.accepted:
                log.warning("reload_refused", needs_restart=plan.needs_restart, would_apply=plan.applied)
                return plan
            sections = plan.sections()
            if sections & {"log", "alerts"}:  # alerts: new channel secrets must be redacted too
                configure_logging_for(new)
            if "detectors" in sections:
                self.detectors, held = rebuild_detectors(self.detectors, old, new, self.recent_bars.history())
                await self._submit_all(held)
            if "alerts" in sections:
                async with self._alerts_lock:
                    await self.alerts.stop(flush_timeout_s=_RELOAD_FLUSH_S)
                    self.alerts = self._build_alerts(new, previous=self.alerts)
                    await self.alerts.start()
                if self.api is not None:
                    self.api.set_secrets(secret_values(new))
            self.settings = new
            log.info("reload_applied", changed=plan.applied)
            return plan

    # --- views -------------------------------------------------------------------------------------

    def feed_state(self) -> FeedState:
        return self.feed.state()

    def summary(self) -> dict[str, int]:
        return {
            "bars_closed": self.stats.bars_closed,
            "trades": self.stats.trades,
            "liquidations": self.stats.liquidations,
            "signals": sum(self.stats.signals.values()),
            "alerts": self.stats.alerts,
        }

    # --- the pipeline ------------------------------------------------------------------------------

    async def _pipeline(self) -> None:
        queue = self.feed.queue
        while not (self._stopping and not len(queue)):
            event = queue.get_nowait() if len(queue) else await queue.get()
            self.liveness.advanced()
            self._handling_event = True
            try:
                await self._handle(event)
            finally:
                self._handling_event = False

    async def _handle(self, event: Event) -> None:
        """One event through the pipeline; a failure in it is counted and logged (`app.guard`), and the
        next event is handled as usual."""
        try:
            self._observe(event)
        except Exception as e:
            self._errors.record(Stage.OBSERVE, e, Outcome.SKIPPED, event=type(event).__name__)
        try:
            signals = self.detectors.on_event(event)
        except Exception as e:
            self._errors.record(Stage.DETECT, e, Outcome.SKIPPED, event=type(event).__name__)
            return
        await self._submit_all(signals)

    def _observe(self, event: Event) -> None:
        stats = self.stats
        self.health.on_data(event.ts_recv_ns)
        if isinstance(event, Bar):
            if event.closed:
                stats.bars_closed += 1
                self.recent_bars.add(event)
                self.processed.observe(event)
                self.history.observe(event, self._exchange_now_ms)
                if self._journal is not None:
                    self._journal.write(event)
        elif isinstance(event, Trade):
            stats.trades += 1
        elif isinstance(event, Liquidation):
            stats.liquidations += 1
        elif isinstance(event, BookTicker | MarkPrice):
            self.alerts.enricher.observe(event)
        elif isinstance(event, FeedStatus):
            self.alerts.on_feed_status(event)
            self._publish_status(event)

    async def _release_held_bars(self) -> None:
        """Bar-close grouping on the clock: one timer per momentum close time, on the exchange-time
        estimate, releases the held bars at close + `group_wait_ms` even when no later event arrives
        (the detectors read no clock; this timer is their clock)."""
        while True:
            cfg = self.settings.detectors.momentum
            market = Market(cfg.markets[0]) if cfg.markets else Market.SPOT
            step_ms = FIXED_INTERVAL_MS.get(cfg.timeframe, 60_000)
            now_ms = self._exchange_now_ms(market)
            # The next close (k x step - 1) whose release time (close + wait) lies ahead of now.
            due_ms = ((now_ms - cfg.group_wait_ms + 1) // step_ms + 1) * step_ms - 1 + cfg.group_wait_ms
            held_ms = self.detectors.next_release_ms()
            if held_ms is not None:
                due_ms = min(due_ms, held_ms)  # a late bar of an earlier close
            await asyncio.sleep(max(0.0, (due_ms - now_ms) / 1000 / self.clock.rate))
            now_ms = self._exchange_now_ms(market)
            if now_ms < due_ms:
                continue  # the clock estimate moved back (a `GET time` resync): re-arm
            signals = self.detectors.release(now_ms)
            if signals:
                # Shielded: a stop during the submit must not lose an alert; `stop` awaits it.
                self._releasing = asyncio.ensure_future(self._submit_all(signals))
                await asyncio.shield(self._releasing)
                self._releasing = None

    async def _submit_all(self, signals: list[Signal]) -> None:
        """Each signal on its own: one that cannot be admitted (a transient store error is retried until
        it can) is counted, logged and announced to the operator, and the others still go."""
        for signal in signals:
            try:
                await self._submit(signal)
            except Exception as e:
                self._errors.record(
                    Stage.ADMIT, e, Outcome.SKIPPED, symbol=signal.symbol, detector=signal.detector
                )
                self.alerts.operator.on_unhandled_error(
                    "pipeline", f"a {signal.detector} signal on {signal.symbol} got no alert: {e!r}"
                )

    def _exchange_now_ms(self, market: Market) -> int:
        """The feed's estimate of the exchange's clock: ours plus the offset measured by `GET time`."""
        try:
            return self.feed.market(market).rest.server.now_ms()
        except KeyError:  # a market this feed does not watch
            return self.clock.now_ns() // 1_000_000

    # --- what the supervisor and the event loop report ---------------------------------------------

    def on_task_failed(self, task: str, error: BaseException, restart_in_s: float) -> None:
        self.alerts.operator.on_task_failed(task, repr(error), restart_in_s)

    def on_task_recovered(self, task: str) -> None:
        self.alerts.operator.on_task_recovered(task)

    def on_gave_up(self, task: str, error: BaseException) -> None:
        self.alerts.operator.on_unhandled_error(
            task, f"{error!r}; it kept failing, so the service stops and exits non-zero to be restarted"
        )
        self.failed.set()

    def _on_loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
        """What no task handled (a callback, a never-awaited task's error): logged as asyncio does, and
        announced to the operator (rate limited per place)."""
        loop.default_exception_handler(context)
        error = context.get("exception")
        where = context.get("task") or context.get("future") or context.get("handle") or "event loop"
        name = where.get_name() if isinstance(where, asyncio.Task) else str(where)[:200]
        self.alerts.operator.on_unhandled_error(
            name, repr(error) if error is not None else str(context.get("message", "unknown error"))
        )

    def _publish_status(self, status: FeedStatus) -> None:
        self.health.on_status(status)
        self.live.publish(LiveKind.STATUS, status)

    def _on_store_probe(self, error: Exception | None) -> None:
        if error is None:
            self.alerts.report_store_ok()
        else:
            self.alerts.report_store_error(f"{type(error).__name__}: {error}")

    # --- what the wallet path calls (always the current alert service: a reload replaces it) --------

    async def submit_wallet_trade(self, trade: WalletTrade) -> int | None:
        async with self._alerts_lock:
            return await self.alerts.submit_wallet_trade(trade)

    def on_feed_status(self, status: FeedStatus) -> None:
        self.alerts.on_feed_status(status)

    async def _submit(self, signal: Signal) -> None:
        self.stats.on_signal(signal)
        if self.history.is_history(signal):
            self.stats.on_outcome(signal, Suppression.HISTORY)
            HISTORY_SIGNALS.labels(signal.detector).inc()
            ALERTS_SUPPRESSED.labels(signal.detector, Suppression.HISTORY).inc()
            return
        self.stats.recent_signals.append(signal)
        self.health.on_signal(signal)
        self.live.publish(LiveKind.SIGNAL, signal)
        # Exchange event time to now (in wall seconds): transport, queueing and any hold (momentum grouping).
        latency_s = max(0.0, (self.clock.now_ns() - signal.ts_event_ns) / _NS_PER_S / self.clock.rate)
        EVENT_TO_SIGNAL_S.labels(signal.detector).observe(latency_s)
        # The pipeline is one task for every symbol: what the alert path logs names this signal's.
        with structlog.contextvars.bound_contextvars(symbol=signal.symbol, detector=signal.detector):
            async with self._alerts_lock:
                self.alerts.enricher.observe(signal)
                admission = await with_store_retry(
                    lambda: self.alerts.admit(signal), self._errors, lambda: self._stopping
                )
        self.stats.on_outcome(signal, admission.suppressed)
        if admission.alert_id is not None:
            self.live.publish(
                LiveKind.ALERT, AlertView(admission.alert_id, self.clock.now_ns() // 1_000_000, signal)
            )


def settings_for_simulator(
    settings: Settings,
    *,
    spot_rest_url: str,
    spot_ws_url: str,
    futures_rest_url: str,
    futures_ws_url: str,
    var_dir: Path,
) -> Settings:
    """The same settings pointed at a local simulator, with state kept under `var_dir`."""

    def point(endpoints: MarketEndpoints, rest_url: str, ws_url: str) -> MarketEndpoints:
        return endpoints.model_copy(update={"rest_url": rest_url, "ws_url": ws_url})

    binance = settings.binance.model_copy(
        update={
            "spot": point(settings.binance.spot, spot_rest_url, spot_ws_url),
            "futures": point(settings.binance.futures, futures_rest_url, futures_ws_url),
        }
    )
    storage = settings.storage.model_copy(update={"sqlite_path": var_dir / "cryptoradar.db"})
    return settings.model_copy(update={"binance": binance, "storage": storage})


def settings_for(sim: Simulator, settings: Settings, var_dir: Path) -> Settings:
    """`settings_for_simulator` with the URLs of a running `sim`."""
    return settings_for_simulator(
        settings,
        spot_rest_url=sim.spot_rest_url,
        spot_ws_url=sim.spot_ws_url,
        futures_rest_url=sim.futures_rest_url,
        futures_ws_url=sim.futures_ws_url,
        var_dir=var_dir,
    )


def sim_options(settings: Settings) -> SimOptions:
    from cryptoradar.sim import SimOptions

    sim = settings.sim
    return SimOptions(
        seed=sim.seed,
        symbols=sim.symbols,
        acceleration=sim.acceleration,
        futures_symbols=sim.futures_symbols,
        scenarios=sim.scenarios,
        ground_truth_path=Path(sim.ground_truth_path) if sim.ground_truth_path else None,
        host=sim.host,
        spot_port=sim.spot_port,
        futures_port=sim.futures_port,
    )


async def _step(name: str, step: Callable[[], Awaitable[object]]) -> None:
    """One shutdown step: a failure is logged and the next steps still run."""
    try:
        await step()
    except Exception as e:
        log.error("shutdown_step_failed", step=name, error=repr(e), exc_info=e)
