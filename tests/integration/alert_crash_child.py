"""Child process for test_alert_crash: submits a deterministic signal stream through AlertService and
delivers it over HTTP to the parent's stub. Prints READY once started, then DONE when nothing is left pending.

Usage: python alert_crash_child.py STORE URL COUNT  (STORE: a SQLite file path or a postgresql:// DSN)
"""

from __future__ import annotations

import asyncio
import sys

import aiohttp
from pydantic import SecretStr

from cryptoradar.alerts.service import AlertService
from cryptoradar.config.alerts import AlertsConfig
from cryptoradar.config.storage import StorageBackend, StorageConfig
from cryptoradar.core.clock import SystemClock
from cryptoradar.core.errors import PermanentError, RetryableError
from cryptoradar.events import Direction, Severity, Signal
from cryptoradar.notifications import Notification, RenderedAlert
from cryptoradar.storage.factory import build_store

BASE_MS = 1_767_225_600_000
SEVERITIES = (Severity.INFO, Severity.WARNING, Severity.HIGH, Severity.CRITICAL)


def stream_signal(i: int) -> Signal:
    start_ms = BASE_MS + i * 60_000
    return Signal(
        detector="crash",
        rule_version=1,
        kind="crash_test",
        symbol=f"S{i % 50}USDT",
        timeframe="1m",
        window_start_ms=start_ms,
        window_end_ms=start_ms + 59_999,
        direction=Direction.BULLISH,
        severity=SEVERITIES[i % 4],
        conditions=(),
        metrics={"i": float(i)},
        labels={},
        symbols=(f"S{i % 50}USDT",),
        ts_event_ns=(start_ms + 60_000) * 1_000_000,
    )


class HttpSink:
    """One alert per POST; 5xx and connection errors are retryable, other 4xx permanent."""

    def __init__(self, url: str) -> None:
        self.name = "hook"
        self._url = url
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))

    def pack(self, alerts: list[RenderedAlert]) -> list[Notification]:
        return [Notification(self.name, (a,)) for a in alerts]

    async def send(self, notification: Notification) -> None:
        try:
            async with self._session.post(
                self._url, json=[a.alert_id for a in notification.alerts]
            ) as response:
                if response.status >= 500:
                    raise RetryableError(f"HTTP {response.status}")
                if response.status >= 400:
                    raise PermanentError(f"HTTP {response.status}")
        except aiohttp.ClientError as e:
            raise RetryableError(repr(e)) from e

    async def close(self) -> None:
        await self._session.close()


def storage_config(store: str) -> StorageConfig:
    if store.startswith("postgresql://"):
        return StorageConfig(backend=StorageBackend.POSTGRES, postgres_dsn=SecretStr(store))
    return StorageConfig(sqlite_path=store)


async def main(store_spec: str, url: str, count: int) -> None:
    config = AlertsConfig.model_validate(
        {
            # The packaged console and log channels are dropped: this child builds only the hook's sink.
            "channels": {
                "hook": {"type": "webhook", "url": url, "secret": "s", "rate_limits": []},
                "console": None,
                "log": None,
            },
            "default_channels": ["hook"],
            "fallback_channels": [],
            "group_wait_s": 0,
            "max_alerts_per_group": 1,
            "cooldowns": {},
            "retry_initial_s": 0.05,
            "retry_max_s": 0.2,
        }
    )
    store = build_store(storage_config(store_spec), SystemClock())
    await store.open()
    service = AlertService(config, store, {"hook": HttpSink(url)}, SystemClock())
    await service.start()
    print("READY", flush=True)
    for i in range(count):
        if await service.submit(stream_signal(i)) is not None:
            await asyncio.sleep(0.01)  # spread new alerts out (>= 4 s of work) so every kill lands mid-stream
    await service.stop(flush_timeout_s=30.0)  # returns once every queued delivery went out
    pending = await store.pending_deliveries()
    await store.close()
    print("DONE" if not pending else f"PENDING {len(pending)}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
