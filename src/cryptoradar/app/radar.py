"""Composition root: builds everything from config, starts in order, stops in reverse.

Data flow: `BinanceFeed` (bounded queue) -> `DetectorSet` (pure) -> `AlertService` (outbox, delivery)
-> sinks. The only module that sees every layer.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from cryptoradar.alerts.service import AlertService
from cryptoradar.api import ApiServer, LiveHub, LiveKind, StandardHealth, secret_values
from cryptoradar.api.views import AlertView
from cryptoradar.app.http import AlertsAdapter, MarketAdapter, RecentBars, store_probe
from cryptoradar.config import Settings
from cryptoradar.config.binance import MarketEndpoints
from cryptoradar.core.clock import Clock, SystemClock
from cryptoradar.core.supervisor import TaskSupervisor
from cryptoradar.detectors.engine import DetectorSet
from cryptoradar.events import (
    Bar,
    BookTicker,
    Event,
    FeedStatus,
    Liquidation,
    MarkPrice,
    Signal,
    Trade,
)
from cryptoradar.notifications import Sink
from cryptoradar.sim import SimOptions
from cryptoradar.sinks import build_sink
from cryptoradar.sources.binance.feed import BinanceFeed, FeedState, ProgressCallback
from cryptoradar.storage.sqlite import SqliteStore

log = structlog.get_logger(__name__)

_CHART_BARS_PER_SERIES = 120
"""Closed bars kept per series for the dashboard chart: 300 symbols x 4 intervals stay near 15 MB."""


@dataclass
class PipelineStats:
    """What flowed through the pipeline; read by the demo view and the health summary."""

    bars_closed: int = 0
    trades: int = 0
    liquidations: int = 0
    signals: Counter[str] = field(default_factory=Counter)
    alerts: int = 0
    suppressed: int = 0
    recent_signals: deque[Signal] = field(default_factory=lambda: deque(maxlen=12))


class Radar:
    """The running service: one feed, one detector set, one alert service, one store."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        sinks: Mapping[str, Sink] | None = None,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.stats = PipelineStats()
        self.store = SqliteStore(Path(settings.storage.sqlite_path), clock=self.clock)
        self.detectors = DetectorSet(settings.detectors)
        self._sinks = dict(sinks) if sinks is not None else self._build_sinks()
        self.alerts = AlertService(settings.alerts, self.store, self._sinks, self.clock)
        self.feed = BinanceFeed(settings.binance, settings.universe, self.clock, progress=progress)
        self.live = LiveHub(settings.api.sse_queue_size)
        self.recent_bars = RecentBars(_CHART_BARS_PER_SERIES)
        self.api: ApiServer | None = None
        self.api_port: int | None = None
        self._supervisor = TaskSupervisor("radar")

    def _build_sinks(self) -> dict[str, Sink]:
        return {
            name: build_sink(name, channel)
            for name, channel in self.settings.alerts.channels.items()
            if channel.enabled
        }

    async def start(self) -> None:
        """Store first, then alerts (resumes pending deliveries), then the pipeline, then the feed."""
        await self.store.open()
        await self.alerts.start()
        self._supervisor.start(self._pipeline(), "pipeline")
        await self.feed.start()
        if self.settings.api.enabled:
            alerts_view = AlertsAdapter(self.alerts)
            market_view = MarketAdapter(self.feed, self.recent_bars)
            self.api = ApiServer(
                self.settings.api,
                health=StandardHealth(
                    market_view, alerts_view, store_probe(self.store), self.settings.api.stale_after_intervals
                ),
                alerts=alerts_view,
                market=market_view,
                live=self.live,
                clock=self.clock,
                secrets=secret_values(self.settings),
            )
            self.api_port = await self.api.start()
        log.info("radar_started", api_port=self.api_port)

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Reverse order: feed, pipeline (after draining what is queued), alerts (flush), store."""
        await self.feed.stop(timeout_s / 3)
        await self._drain()
        await self._supervisor.stop(timeout_s / 3)
        for signal in self.detectors.flush():
            await self._submit(signal)
        await self.alerts.stop(flush_timeout_s=timeout_s / 3)
        if self.api is not None:
            await self.api.stop()
        self.live.close()
        await self.store.close()
        log.info("radar_stopped", **self.summary())

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

    async def _drain(self) -> None:
        while len(self.feed.queue):
            await self._handle(await self.feed.queue.get())

    async def _pipeline(self) -> None:
        async for event in self.feed:
            await self._handle(event)

    async def _handle(self, event: Event) -> None:
        self._observe(event)
        for signal in self.detectors.on_event(event):
            await self._submit(signal)

    def _observe(self, event: Event) -> None:
        stats = self.stats
        if isinstance(event, Bar):
            if event.closed:
                stats.bars_closed += 1
                self.recent_bars.add(event)
        elif isinstance(event, Trade):
            stats.trades += 1
        elif isinstance(event, Liquidation):
            stats.liquidations += 1
        elif isinstance(event, BookTicker | MarkPrice):
            self.alerts.enricher.observe(event)
        elif isinstance(event, FeedStatus):
            self.live.publish(LiveKind.STATUS, event)

    async def _submit(self, signal: Signal) -> None:
        self.stats.signals[signal.detector] += 1
        self.stats.recent_signals.append(signal)
        self.alerts.enricher.observe(signal)
        self.live.publish(LiveKind.SIGNAL, signal)
        alert_id = await self.alerts.submit(signal)
        if alert_id is None:
            self.stats.suppressed += 1
        else:
            self.stats.alerts += 1
            self.live.publish(LiveKind.ALERT, AlertView(alert_id, self.clock.now_ns() // 1_000_000, signal))


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


def sim_options(settings: Settings) -> SimOptions:
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
