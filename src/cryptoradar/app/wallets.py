"""The wallet path: `WalletMonitor` -> `AlertService` (-> sinks), plus an optional executor webhook.

Built from `settings.evm`; the composition root adds it after the alert service and stops it before:

    self.wallets = WalletPath(settings, alerts, self.clock, on_status=...)
    await self.wallets.start()        # after the alert service started
    await self.wallets.stop(timeout)  # before the alert service stops

`alerts` is anything with `submit_wallet_trade` and `on_feed_status` (`WalletAlerts`): an `AlertService`,
or the radar itself, which forwards to whichever alert service is current (a reload replaces it).

What flows where:
- every `WalletTrade` -> `AlertService.submit_wallet_trade`: one alert per (chain, tx hash, log index,
  wallet, token); a reorged (`removed`) trade becomes a correction on the channels that sent (or are
  sending) the original, and cancels the original where it is still pending;
- every `FeedStatus` -> `AlertService.on_feed_status` (its operator desk: an OPERATOR status, sent when
  the WebSocket has been down longer than `operator_alert_after_s`, becomes one operator notice on the
  fallback channels, like a disabled channel's; CONNECTED resolves it) and -> `on_status` (for the
  dashboard's live stream; do not also feed the alert service from there);
- with `evm.executor_webhook`, every trade (retractions too) as signed JSON to downstream executors,
  from its own bounded queue, so a slow executor never delays an alert.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import msgspec
import structlog
from prometheus_client import Counter

from cryptoradar.config import Settings
from cryptoradar.config.evm import ExecutorWebhookConfig
from cryptoradar.core.backoff import Backoff
from cryptoradar.core.clock import Clock
from cryptoradar.core.errors import PermanentError, RetryableError
from cryptoradar.core.logging import LogOncePerKind
from cryptoradar.core.metrics import REGISTRY
from cryptoradar.core.supervisor import TaskSupervisor
from cryptoradar.events import ConnectionState, Event, FeedStatus, StatusLevel, WalletTrade
from cryptoradar.sinks import HttpPoster
from cryptoradar.sinks.webhook import signature, signing_key
from cryptoradar.sources.evm import WalletMonitor
from cryptoradar.storage.evm_sqlite import SqliteWalletStore

log = structlog.get_logger(__name__)

WALLET_PATH = Counter(
    "cryptoradar_wallet_path_total",
    "Wallet events by outcome: alerted, not_alerted, correction, operator_status, alert_error, "
    "executor_sent, executor_dropped, executor_failed",
    ["outcome"],
    registry=REGISTRY,
)

EXECUTOR_SCHEMA_VERSION = "1"


class WalletChainState(msgspec.Struct, frozen=True):
    chain: str
    ws_state: ConnectionState
    ws_ready: bool
    polling_active: bool
    reconnects: int
    cursor: int | None
    trades_emitted: int
    duplicates_dropped: int


class WalletPathState(msgspec.Struct, frozen=True):
    enabled: bool
    chains: tuple[WalletChainState, ...]
    trades: int
    alerts: int
    corrections: int
    operator_statuses: int
    """OPERATOR FeedStatuses handed to the alert service's operator desk (which decides what to send)."""
    executor_sent: int
    executor_queued: int


class ExecutorMessage(msgspec.Struct, frozen=True):
    """The executor webhook body. `event_id` is stable per (trade, kind, removed): receivers dedupe on it."""

    version: str
    event_id: str
    trade: WalletTrade


def executor_event_id(trade: WalletTrade) -> str:
    # `kind` too: a pending transaction and the same transfer once mined are two messages.
    key = f"{trade.chain}|{trade.tx_hash}|{trade.log_index}|{trade.wallet}|{trade.token}|{trade.kind}|{trade.removed}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


class ExecutorWebhook:
    """POSTs trades to one URL, signed like the alert webhook channel (`webhook-id`, `webhook-timestamp`,
    `webhook-signature: v1,<base64 HMAC-SHA256 over "<id>.<timestamp>." + body>`).

    Queue: bounded, drop-oldest when full (counted): the alert path, not this one, is the durable one.
    Delivery: at least once per process; 408/429/5xx and transport errors retry with capped backoff up
    to `max_attempts`; other statuses drop the message (counted, logged).
    """

    def __init__(self, config: ExecutorWebhookConfig, clock: Clock) -> None:
        self._config = config
        self._clock = clock
        self._key = signing_key(config.secret.get_secret_value())
        self._queue: deque[WalletTrade] = deque(maxlen=config.queue_size)
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._http = HttpPoster("executor webhook", None, config.timeout_s)
        self._log = LogOncePerKind(clock=clock)
        self.sent = 0

    def offer(self, trade: WalletTrade) -> None:
        if len(self._queue) == self._queue.maxlen:
            WALLET_PATH.labels("executor_dropped").inc()
        self._queue.append(trade)
        self._idle.clear()
        self._wake.set()

    @property
    def queued(self) -> int:
        return len(self._queue)

    async def run(self) -> None:
        try:
            while True:
                if not self._queue:
                    self._idle.set()
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                await self._deliver(self._queue.popleft())
        finally:
            await self._http.close()

    async def wait_idle(self) -> None:
        await self._idle.wait()

    async def _deliver(self, trade: WalletTrade) -> None:
        backoff = Backoff(initial_s=0.5, max_s=10.0)
        for attempt in range(1, self._config.max_attempts + 1):
            error = await self._post(trade)
            if error is None:
                self.sent += 1
                WALLET_PATH.labels("executor_sent").inc()
                return
            retryable, text = error
            if not retryable or attempt == self._config.max_attempts:
                break
            await asyncio.sleep(backoff.next_delay_s())
        WALLET_PATH.labels("executor_failed").inc()
        if self._log.should_log(text):
            log.warning("executor_webhook_failed", error=text, tx_hash=trade.tx_hash)

    async def _post(self, trade: WalletTrade) -> tuple[bool, str] | None:
        """None on success, else (retryable, reason). The URL never appears in a reason (secret)."""
        event_id = executor_event_id(trade)
        body = msgspec.json.encode(ExecutorMessage(EXECUTOR_SCHEMA_VERSION, event_id, trade))
        timestamp_s = self._clock.now_ns() // 1_000_000_000
        headers = {
            "Content-Type": "application/json",
            "webhook-id": event_id,
            "webhook-timestamp": str(timestamp_s),
            "webhook-signature": signature(self._key, event_id, timestamp_s, body),
        }
        try:
            status = (await self._http.post(self._config.url.get_secret_value(), body, headers)).status
        except RetryableError as e:
            return True, str(e)
        except PermanentError as e:
            return False, str(e)
        except OSError as e:
            return True, type(e).__name__
        if 200 <= status < 300:
            return None
        return (status in (408, 429) or status >= 500), f"HTTP {status}"


class WalletAlerts(Protocol):
    """What the wallet path needs of the alert pipeline (`AlertService` has both)."""

    async def submit_wallet_trade(self, trade: WalletTrade) -> int | None: ...

    def on_feed_status(self, status: FeedStatus) -> None: ...


class WalletPath:
    """Owns the wallet monitor, its state and the executor webhook.

    State (cursor, seen logs) lives in the SQLite file `storage.sqlite_path`, next to the SQLite alert store;
    with the postgres backend it stays in that local file: watch wallets from one instance only (the
    shared alert store would still drop a second instance's repeated alerts, but not its executor
    messages). Disabled (start/stop do nothing) unless `evm.enabled` and a wallet is configured.
    """

    def __init__(
        self,
        settings: Settings,
        alerts: WalletAlerts,
        clock: Clock,
        *,
        on_status: Callable[[FeedStatus], None] | None = None,
    ) -> None:
        self._evm = settings.evm
        self._db_path = Path(settings.storage.sqlite_path)
        self._alerts = alerts
        self._clock = clock
        self._on_status = on_status
        self.enabled = self._evm.enabled and bool(self._evm.wallets)
        self._store: SqliteWalletStore | None = None
        self._monitor: WalletMonitor | None = None
        self._supervisor = TaskSupervisor("wallets")
        self._monitor_task: asyncio.Task[None] | None = None
        hook = self._evm.executor_webhook
        self._executor = ExecutorWebhook(hook, clock) if hook is not None and hook.enabled else None
        self._errors = LogOncePerKind(clock=clock)
        self.trades = 0
        self.alerted = 0
        self.corrections = 0
        self.operator_statuses = 0

    async def start(self) -> None:
        """Open the store and start watching; returns at once (the monitor connects in the background).
        The alert service must already be running."""
        if not self.enabled:
            return
        self._store = await SqliteWalletStore.open(self._db_path)
        self._monitor = WalletMonitor(self._evm, self._store, self._on_event, self._clock)
        if self._executor is not None:
            self._supervisor.start(self._executor.run(), "executor-webhook")
        self._monitor_task = self._supervisor.start(self._monitor.run(), "monitor")
        log.info(
            "wallet_path_started", chains=[c.name for c in self._evm.chains], wallets=len(self._evm.wallets)
        )

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the monitor (up to half of `timeout_s`; it flushes its status events), let the executor
        queue drain for the rest, then close the store. Call before the alert service stops."""
        if self._monitor is None:
            return
        loop = asyncio.get_running_loop()
        deadline_s = loop.time() + timeout_s
        await self._monitor.stop()
        if self._monitor_task is not None:
            await asyncio.wait({self._monitor_task}, timeout=timeout_s / 2)
        if self._executor is not None:
            try:
                await asyncio.wait_for(self._executor.wait_idle(), timeout=max(0.0, deadline_s - loop.time()))
            except TimeoutError:
                log.warning("executor_webhook_unsent", queued=self._executor.queued)
        await self._supervisor.stop(max(0.1, deadline_s - loop.time()))
        if self._store is not None:
            await self._store.close()
        self._monitor = None

    def state(self) -> WalletPathState:
        monitored = {} if self._monitor is None else self._monitor.chains
        chains = tuple(
            WalletChainState(
                chain=name,
                ws_state=c.state,
                ws_ready=c.ws_ready,
                polling_active=c.polling_active,
                reconnects=c.reconnects,
                cursor=c.processor.cursor,
                trades_emitted=c.processor.emitted_total,
                duplicates_dropped=c.processor.duplicates_total,
            )
            for name, c in monitored.items()
        )
        return WalletPathState(
            enabled=self.enabled,
            chains=chains,
            trades=self.trades,
            alerts=self.alerted,
            corrections=self.corrections,
            operator_statuses=self.operator_statuses,
            executor_sent=0 if self._executor is None else self._executor.sent,
            executor_queued=0 if self._executor is None else self._executor.queued,
        )

    async def _on_event(self, event: Event) -> None:
        """The monitor's emit. Never raises: a failing alert store must not stop the chain watchers."""
        try:
            if isinstance(event, WalletTrade):
                await self._on_trade(event)
            elif isinstance(event, FeedStatus):
                self._on_feed_status(event)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            WALLET_PATH.labels("alert_error").inc()
            if self._errors.should_log(type(e).__name__):
                log.error("wallet_alert_failed", error=repr(e), kind=type(event).__name__)

    async def _on_trade(self, trade: WalletTrade) -> None:
        self.trades += 1
        if self._executor is not None:
            self._executor.offer(trade)
        alert_id = await self._alerts.submit_wallet_trade(trade)
        if alert_id is None:
            # A repeat (restart between emit and persist), silenced, or a retraction of an unsent alert.
            WALLET_PATH.labels("not_alerted").inc()
        elif trade.removed:
            self.corrections += 1
            WALLET_PATH.labels("correction").inc()
        else:
            self.alerted += 1
            WALLET_PATH.labels("alerted").inc()

    def _on_feed_status(self, status: FeedStatus) -> None:
        # The alert service's operator desk turns an OPERATOR status (WebSocket down longer than
        # `operator_alert_after_s`) into one operator notice, and the next CONNECTED into its resolution.
        self._alerts.on_feed_status(status)
        if status.level is StatusLevel.OPERATOR:
            self.operator_statuses += 1
            WALLET_PATH.labels("operator_status").inc()
        if self._on_status is not None:
            self._on_status(status)
