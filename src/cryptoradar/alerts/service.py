"""`AlertService`: the facade the app wires. Signal -> silence -> cooldown -> route -> persist -> deliver.

Ownership: the caller opens and closes the store (other components share it); the service closes the
sinks it was given when it stops. Time: cooldowns and silences are judged on the signal's event time;
the clock is used for bookkeeping (created/sent times, retries, retention, operator incidents).

Silences are reloaded from the store every `silence_refresh_s`, so a silence made by the CLI or another
instance sharing the store applies without a restart. Operator incidents (see `alerts.operator`) are
fed through `on_feed_status`, `report_store_error`/`report_store_ok` and the service's own store writes
and channel failures, and go straight to the fallback channels (`alerts.fallback`).
"""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import Mapping, Sequence

import msgspec
import structlog

from cryptoradar.alerts.delivery import (
    ChannelState,
    ChannelStatus,
    ChannelWorker,
    Render,
    Sleep,
)
from cryptoradar.alerts.enrich import Enricher, MarketContextEnricher
from cryptoradar.alerts.fallback import FallbackChannel, FallbackNotifier, OperatorDesk
from cryptoradar.alerts.operator import IncidentKind, OperatorNotice
from cryptoradar.alerts.ports import (
    AlertRow,
    AlertStore,
    FailedDeliveryRow,
    PendingDeliveryRow,
    SilenceRow,
)
from cryptoradar.alerts.queue import QueuedDelivery
from cryptoradar.alerts.ratelimit import RateLimiter
from cryptoradar.alerts.render import Renderer
from cryptoradar.alerts.routing import (
    ActiveSilence,
    Router,
    RouteTarget,
    alert_labels,
    compile_silence,
    silenced_by,
)
from cryptoradar.alerts.rules import (
    CooldownBook,
    CooldownState,
    Suppression,
    Verdict,
    entry_price,
    signal_signature,
    wallet_signature,
)
from cryptoradar.alerts.wallet import wallet_signal
from cryptoradar.config.alerts import DEFAULT_RATE_LIMITS, AlertsConfig, ChannelType
from cryptoradar.core.backoff import Backoff
from cryptoradar.core.clock import Clock
from cryptoradar.core.logging import LogOncePerKind
from cryptoradar.core.metrics import ALERTS_SUPPRESSED
from cryptoradar.core.supervisor import TaskSupervisor
from cryptoradar.events import FeedStatus, Signal, WalletTrade
from cryptoradar.notifications import RenderedAlert, Sink

log = structlog.get_logger(__name__)

AlertId = int
_NS_PER_S = 1_000_000_000


class Admission(msgspec.Struct, frozen=True):
    """What `AlertService.admit` made of a signal: the alert's id (None when none was stored) and, when
    no channel will get it, why (a NO_ROUTE alert is stored but has nowhere to go)."""

    alert_id: AlertId | None
    suppressed: Suppression | None = None


class AlertFilter(msgspec.Struct, frozen=True):
    detector: str | None = None
    kind: str | None = None
    symbol: str | None = None
    severity: str | None = None
    since_ns: int | None = None


class Page(msgspec.Struct, frozen=True):
    limit: int = 100
    before_id: int | None = None
    """The last id of the previous page (alerts are listed newest first)."""


class AlertService:
    def __init__(
        self,
        config: AlertsConfig,
        store: AlertStore,
        sinks: Mapping[str, Sink],
        clock: Clock,
        *,
        market_clock: Clock | None = None,
        renderer: Renderer | None = None,
        enricher: Enricher | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._config = config
        self._store = store
        self._sinks = dict(sinks)
        self._clock = clock
        # Bar close times are on the market's clock; only the bar close -> delivered metric reads it.
        self._market_clock = market_clock or clock
        self._renderer = renderer or Renderer(config.templates_dir)
        self.enricher: Enricher = enricher or MarketContextEnricher()
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._router = Router(config)
        self._cooldowns = CooldownBook(config.cooldowns)
        self._silences: list[ActiveSilence] = []
        self._workers: dict[str, ChannelWorker] = {}
        self._supervisor = TaskSupervisor("alerts")
        self._accepting = False
        notifier = FallbackNotifier(
            self._renderer,
            attempts=config.operator.send_attempts,
            retry_initial_s=config.retry_initial_s,
            retry_max_s=config.retry_max_s,
            sleep=sleep,
        )
        self._operator = OperatorDesk(config.operator, notifier, clock, self._fallback_channels, sleep=sleep)
        self._log_once = LogOncePerKind(clock=clock)

    # --- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Load cooldowns and silences, resume pending deliveries, start one worker per channel."""
        for row in await self._store.load_cooldowns():
            self._cooldowns.load(
                (row.detector, row.symbol, row.kind),
                CooldownState(row.last_event_ns, row.last_entry_price, row.last_direction),
            )
        await self.refresh_silences()
        for name, channel in self._config.channels.items():
            sink = self._sinks.get(name)
            if sink is None or not channel.enabled:
                if channel.enabled:
                    log.warning("alert_channel_without_sink", channel=name)
                continue
            windows = (
                channel.rate_limits if channel.rate_limits is not None else DEFAULT_RATE_LIMITS[channel.type]
            )
            self._workers[name] = ChannelWorker(
                sink,
                self._store,
                channel=name,
                render=self._render_for(channel.type),
                clock=self._clock,
                market_clock=self._market_clock,
                limiter=RateLimiter(windows),
                backoff=Backoff(self._config.retry_initial_s, self._config.retry_max_s, rng=self._rng),
                on_disabled=self._on_channel_disabled,
                on_store_result=self._on_store_result,
                send_timeout_s=channel.send_timeout_s,
                max_batch=self._config.max_alerts_per_group,
                sleep=self._sleep,
                fallbacks=functools.partial(self._live_fallbacks, self._config.fallbacks_of(name)),
                on_rerouted=self._enqueue_stored,
                failover_after_s=self._config.failover_after_s,
            )
        await self._resume_pending()
        for name, worker in self._workers.items():
            self._supervisor.start(worker.run(), f"deliver:{name}", channel=name)
        self._supervisor.start(self._retention_loop(), "retention")
        self._supervisor.start(self._silence_refresh_loop(), "silence-refresh")
        self._supervisor.start(self._operator.run_poller(), "operator-poll")
        self._supervisor.start(self._operator.run_sender(), "operator-send")
        self._accepting = True

    async def _resume_pending(self) -> None:
        rows = await self._store.pending_deliveries()
        self._enqueue_stored(rows)
        orphaned = {row.channel for row in rows if row.channel not in self._workers}
        for channel in sorted(orphaned):
            # Rerouted like a failed channel's (channel failover), so they are not lost.
            failed, rerouted = await self._store.fail_over(
                channel,
                "channel no longer configured",
                self._live_fallbacks(self._config.fallback_channels),
                self._clock.now_ns(),
            )
            self._enqueue_stored(rerouted)
            log.warning("alert_deliveries_orphaned", channel=channel, failed=failed, rerouted=len(rerouted))

    def _enqueue_stored(self, rows: Sequence[PendingDeliveryRow]) -> None:
        """Queue persisted deliveries (resumed, or rerouted by a channel's failover) on their channel's
        worker; one without a worker stays pending in the store."""
        for row in rows:
            worker = self._workers.get(row.channel)
            if worker is None:
                continue
            labels = alert_labels(row.signal, self._config.symbol_groups)
            group_key = next(
                (t.group_key for t in self._router.route(labels) if t.channel == row.channel),
                f"resumed|{row.channel}",
            )
            item = QueuedDelivery(
                row.alert_id,
                row.signal,
                (),
                group_key,
                rerouted_from=row.rerouted_from,
                reroute_reason=row.reroute_reason or "",
            )
            worker.enqueue(item, 0.0)

    def _live_fallbacks(self, channels: Sequence[str]) -> list[str]:
        return [c for c in channels if self._is_alive(c)]

    async def stop(self, flush_timeout_s: float = 5.0) -> None:
        """Stop accepting, deliver what is queued for up to `flush_timeout_s`, stop workers, close sinks."""
        self._accepting = False
        for worker in self._workers.values():
            worker.flush_now()
        try:
            await asyncio.wait_for(
                asyncio.gather(*(w.wait_idle() for w in self._workers.values())), timeout=flush_timeout_s
            )
        except TimeoutError:
            log.warning("alert_flush_timeout", timeout_s=flush_timeout_s, queued=self._queued())
        try:
            await asyncio.wait_for(self._operator.wait_idle(), timeout=flush_timeout_s)
        except TimeoutError:
            log.warning("operator_notice_flush_timeout", timeout_s=flush_timeout_s)
        await self._supervisor.stop()
        for sink in self._sinks.values():
            try:
                await sink.close()
            except Exception as e:
                log.warning("sink_close_failed", sink=sink.name, error=repr(e))

    def _queued(self) -> int:
        return sum(w.status().queued for w in self._workers.values())

    # --- intake ----------------------------------------------------------------------------------

    async def submit(self, signal: Signal) -> AlertId | None:
        """`admit`, for callers that need only the alert's id (None when silenced, cooling down or a
        duplicate)."""
        return (await self.admit(signal)).alert_id

    async def admit(self, signal: Signal) -> Admission:
        """Turn a detector's signal into a persisted, queued alert, or say why not (each reason counted in
        `cryptoradar_alerts_suppressed_total`). Returns after the alert and its deliveries are durable,
        before any is sent."""
        self._require_running()
        labels = alert_labels(signal, self._config.symbol_groups)
        if silenced_by(self._silences, labels, signal.ts_event_ns) is not None:
            return _suppressed(signal, Suppression.SILENCED)
        verdict = self._cooldowns.check(signal)
        if verdict is not Verdict.ALLOW:
            return _suppressed(signal, Suppression(verdict.value))
        context = self.enricher.context_lines(signal)
        self.enricher.observe(signal)
        targets = self._alive_targets(self._router.route(labels))
        previous, keep_until_ns = self._cooldowns.record(signal)
        try:
            alert_id = await self._persist(signal, signal_signature(signal), targets, keep_until_ns)
        except BaseException:
            self._cooldowns.restore(signal, previous)
            raise
        if alert_id is None:
            self._cooldowns.restore(signal, previous)
            return _suppressed(signal, Suppression.DUPLICATE)
        self._enqueue(alert_id, signal, targets, context)
        if not targets:
            ALERTS_SUPPRESSED.labels(signal.detector, Suppression.NO_ROUTE).inc()
            return Admission(alert_id, Suppression.NO_ROUTE)
        return Admission(alert_id)

    async def submit_wallet_trade(self, trade: WalletTrade) -> AlertId | None:
        """One alert per (chain, tx_hash, log_index). A `removed` trade retracts it: on each channel, an
        original not yet sent never will be (its delivery is closed, nothing is sent there), and one sent
        or being sent gets a correction. Returns the correction's id, None when no channel needs one."""
        if not trade.removed:
            self._require_running()
            signal = wallet_signal(trade)
            labels = alert_labels(signal, self._config.symbol_groups)
            if silenced_by(self._silences, labels, signal.ts_event_ns) is not None:
                return _suppressed(signal, Suppression.SILENCED).alert_id
            targets = self._alive_targets(self._router.route(labels))
            alert_id = await self._persist(signal, wallet_signature(trade), targets, None)
            if alert_id is None:
                return _suppressed(signal, Suppression.DUPLICATE).alert_id
            self._enqueue(alert_id, signal, targets, ())
            return alert_id
        self._require_running()
        original = await self._store.find_alert(wallet_signature(trade))
        if original is None:
            return None
        reached = await self._retract(original.id)
        correction = wallet_signal(trade, correction=True)
        targets = [RouteTarget(c, f"correction|{c}", 0.0) for c in sorted(reached) if self._is_alive(c)]
        if not targets:
            return None
        alert_id = await self._persist(correction, wallet_signature(trade, correction=True), targets, None)
        if alert_id is not None:
            self._enqueue(alert_id, correction, targets, ())
        return alert_id

    async def _retract(self, alert_id: int) -> set[str]:
        """Stop the retracted alert's pending deliveries; returns the channels it may have reached (sent,
        or being sent right now), which get the correction. The channel's worker decides for a pending
        one, in memory, so the store's possibly stale state cannot let the original slip out uncorrected."""
        reached: set[str] = set()
        for delivery in await self._store.deliveries(alert_id):
            worker = self._workers.get(delivery.channel)
            if delivery.state == "sent" or (
                delivery.state == "pending" and worker is not None and await worker.retract(alert_id)
            ):
                reached.add(delivery.channel)
        return reached

    def _require_running(self) -> None:
        if not self._accepting:
            raise RuntimeError("AlertService is not running; call start() first")

    def _alive_targets(self, targets: Sequence[RouteTarget]) -> list[RouteTarget]:
        """Drop channels that are failed or have no sink. If none is left: the failed ones (`_persist`
        reroutes their deliveries at once, marked, like a failed channel's pending ones), else the
        fallback channels."""
        alive = [t for t in targets if self._is_alive(t.channel)]
        if alive or not targets:
            return alive
        failed = [t for t in targets if t.channel in self._workers]
        if failed:
            return failed
        return [
            RouteTarget(c, f"fallback|{c}", 0.0) for c in self._config.fallback_channels if self._is_alive(c)
        ]

    def _is_alive(self, channel: str) -> bool:
        worker = self._workers.get(channel)
        return worker is not None and worker.state is not ChannelState.FAILED

    async def _persist(
        self, signal: Signal, signature: str, targets: Sequence[RouteTarget], keep_until_ns: int | None
    ) -> AlertId | None:
        try:
            alert_id = await self._store.insert_alert(
                signal,
                signature=signature,
                channels=[t.channel for t in targets],
                created_at_ns=self._clock.now_ns(),
                cooldown_until_ns=keep_until_ns,
                entry_price=entry_price(signal),
            )
        except Exception as e:
            self._on_store_result(e)
            raise
        self._on_store_result(None)
        if alert_id is not None:
            for target in targets:
                worker = self._workers[target.channel]
                if worker.state is ChannelState.FAILED:
                    await worker.reroute_pending()
        return alert_id

    def _render_for(self, channel_type: ChannelType) -> Render:
        renderer = self._renderer

        def render(signal: Signal, alert_id: int, context: Sequence[str]) -> RenderedAlert:
            return renderer.render(signal, alert_id, channel_type, context)

        return render

    def _enqueue(
        self, alert_id: int, signal: Signal, targets: Sequence[RouteTarget], context: Sequence[str]
    ) -> None:
        lines = tuple(context)
        for target in targets:
            if not self._is_alive(target.channel):
                continue  # failed: its delivery was rerouted when persisted
            self._workers[target.channel].enqueue(
                QueuedDelivery(alert_id, signal, lines, target.group_key), target.group_wait_s
            )

    async def _on_channel_disabled(self, channel: str, error: str) -> None:
        self._operator.on_channel_disabled(channel, error)

    # --- operator incidents ----------------------------------------------------------------------

    def on_feed_status(self, status: FeedStatus) -> None:
        """Feed every FeedStatus here (cheap, never blocks): REST bans, connections that gave up and
        sources with every connection down become operator notices on the fallback channels."""
        self._operator.on_status(status)

    def report_store_error(self, error: str) -> None:
        """A write to the shared store failed outside this service (e.g. the readiness probe)."""
        self._operator.on_store_result(error)

    def report_store_ok(self) -> None:
        """A write to the store succeeded outside this service."""
        self._operator.on_store_result(None)

    @property
    def operator(self) -> OperatorDesk:
        """Where the owner reports task deaths and unhandled errors (`OperatorDesk.on_task_failed`...)."""
        return self._operator

    def operator_incidents(self) -> list[tuple[IncidentKind, str]]:
        """Open incidents as (kind, subject)."""
        return self._operator.open_incidents

    def _on_store_result(self, error: Exception | None) -> None:
        if error is None:
            self.report_store_ok()
        else:
            self.report_store_error(f"{type(error).__name__}: {error}")

    def _fallback_channels(self, notice: OperatorNotice) -> list[FallbackChannel]:
        skip = notice.subject if notice.kind is IncidentKind.CHANNEL_DISABLED else None
        return [
            FallbackChannel(
                name,
                self._sinks[name],
                self._config.channels[name].type,
                self._config.channels[name].send_timeout_s,
            )
            for name in self._config.fallback_channels
            if name != skip and name in self._sinks and self._is_alive(name)
        ]

    # --- silences, queries -----------------------------------------------------------------------

    async def add_silence(
        self, matchers: Sequence[str], *, until_ns: int, created_by: str, reason: str
    ) -> int:
        """Mute alerts whose labels match every matcher until `until_ns` (compared with event time).
        Raises ValueError for an unparsable matcher or an empty list (which would mute everything)."""
        if not matchers:
            raise ValueError('a silence needs at least one matcher, for example symbol="BTCUSDT"')
        compile_silence(0, matchers, until_ns)
        silence_id = await self._store.add_silence(
            matchers,
            until_ns=until_ns,
            created_by=created_by,
            reason=reason,
            created_at_ns=self._clock.now_ns(),
        )
        self._silences.append(compile_silence(silence_id, matchers, until_ns))
        return silence_id

    async def remove_silence(self, silence_id: int) -> bool:
        removed = await self._store.remove_silence(silence_id)
        self._silences = [s for s in self._silences if s.id != silence_id]
        return removed

    async def refresh_silences(self) -> None:
        """Replace the silences in force with the store's (made here, by the CLI or another instance).
        A stored matcher that no longer parses is skipped and logged, not fatal."""
        silences: list[ActiveSilence] = []
        for row in await self._store.list_silences():
            try:
                silences.append(compile_silence(row.id, row.matchers, row.until_ns))
            except ValueError as e:
                if self._log_once.should_log(f"bad_silence:{row.id}"):
                    log.warning("silence_unparsable", silence_id=row.id, error=str(e))
        self._silences = silences

    async def _silence_refresh_loop(self) -> None:
        while True:
            await self._sleep(self._config.silence_refresh_s)
            try:
                await self.refresh_silences()
            except Exception as e:
                # Keep the silences we have; the store's trouble shows up through its writes.
                if self._log_once.should_log(f"silence_refresh:{type(e).__name__}"):
                    log.warning("silence_refresh_failed", error=repr(e))

    async def list_silences(self) -> Sequence[SilenceRow]:
        return await self._store.list_silences()

    async def list_alerts(
        self, filters: AlertFilter | None = None, page: Page | None = None
    ) -> Sequence[AlertRow]:
        f = filters or AlertFilter()
        p = page or Page()
        return await self._store.list_alerts(
            detector=f.detector,
            kind=f.kind,
            symbol=f.symbol,
            severity=f.severity,
            since_ns=f.since_ns,
            before_id=p.before_id,
            limit=p.limit,
        )

    async def failed_deliveries(self, limit: int = 100) -> Sequence[FailedDeliveryRow]:
        """Failed deliveries, newest first, with the channels each was rerouted to."""
        return await self._store.failed_deliveries(limit)

    def channel_states(self) -> dict[str, ChannelStatus]:
        return {name: worker.status() for name, worker in self._workers.items()}

    # --- retention -------------------------------------------------------------------------------

    async def _retention_loop(self) -> None:
        while True:
            await self._sleep(self._config.retention_interval_s)
            try:
                await self.purge()
            except Exception as e:
                # Try again next interval: a busy or briefly unreachable store must not end the schedule.
                # A store that keeps failing is an operator incident like any other failed write.
                self._on_store_result(e)
                if self._log_once.should_log(f"purge:{type(e).__name__}"):
                    log.warning("alerts_purge_failed", error=repr(e))
            else:
                self._on_store_result(None)

    async def purge(self) -> int:
        """Delete alerts older than `retention_days` (never ones still pending) and ended silences."""
        now_ns = self._clock.now_ns()
        cutoff_ns = now_ns - int(self._config.retention_days * 86_400 * _NS_PER_S)
        deleted = await self._store.purge(alerts_before_ns=cutoff_ns, now_ns=now_ns)
        self._silences = [s for s in self._silences if s.until_ns > now_ns]
        log.info("alerts_purged", deleted=deleted)
        return deleted


def _suppressed(signal: Signal, reason: Suppression) -> Admission:
    ALERTS_SUPPRESSED.labels(signal.detector, reason).inc()
    return Admission(None, reason)
