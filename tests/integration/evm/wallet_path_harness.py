"""The wallet path wired to a real AlertService over SQLite, with recording stub sinks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest

from conftest import eventually
from cryptoradar.alerts.service import AlertService
from cryptoradar.app.wallets import WalletPath
from cryptoradar.config import Settings
from cryptoradar.config.alerts import AlertsConfig
from cryptoradar.config.evm import EvmConfig
from cryptoradar.config.storage import StorageConfig
from cryptoradar.core.clock import SystemClock
from cryptoradar.events import FeedStatus
from cryptoradar.notifications import Notification, RenderedAlert
from cryptoradar.storage.sqlite import SqliteStore


class StubSink:
    """A `notifications.Sink` that records every delivered alert."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.alerts: list[RenderedAlert] = []

    def pack(self, alerts: list[RenderedAlert]) -> list[Notification]:
        return [Notification(self.name, (a,)) for a in alerts]

    async def send(self, notification: Notification) -> None:
        self.alerts.extend(notification.alerts)

    async def close(self) -> None:
        pass

    @property
    def titles(self) -> list[str]:
        return [a.title for a in self.alerts]


@dataclass
class WalletEnv:
    path: WalletPath
    alerts: AlertService
    store: SqliteStore
    trader: StubSink
    """The default channel: wallet trades and corrections land here."""
    ops: StubSink
    """The fallback channel: operator alerts land here."""
    statuses: list[FeedStatus]

    async def ready(self, timeout_s: float = 10.0) -> None:
        def ok() -> bool:
            chains = self.path.state().chains
            return bool(chains) and all(c.ws_ready and c.cursor is not None for c in chains)

        await eventually(ok, timeout_s=timeout_s, what="wallet path ready")


class WalletEnvFactory(Protocol):
    def __call__(self, evm: EvmConfig, *, group_wait_s: float = 0.0) -> Awaitable[WalletEnv]: ...


def settings_for(evm: EvmConfig, db_path: Path, group_wait_s: float = 0.0) -> Settings:
    alerts = AlertsConfig.model_validate(
        {
            "channels": {"trader": {"type": "log"}, "ops": {"type": "log"}},
            "default_channels": ["trader"],
            "fallback_channels": ["ops"],
            "group_wait_s": group_wait_s,
        }
    )
    return Settings(evm=evm, alerts=alerts, storage=StorageConfig(sqlite_path=db_path))


@pytest.fixture
async def wallet_env(tmp_path: Path) -> AsyncIterator[WalletEnvFactory]:
    """wallet_env(evm_config) -> a started AlertService + WalletPath sharing one SQLite file (alerts are
    sent at once unless `group_wait_s` holds them)."""
    envs: list[WalletEnv] = []

    async def start(evm: EvmConfig, *, group_wait_s: float = 0.0) -> WalletEnv:
        settings = settings_for(evm, tmp_path / "cryptoradar.db", group_wait_s)
        clock = SystemClock()
        store = SqliteStore(settings.storage.sqlite_path, clock=clock)
        await store.open()
        trader, ops = StubSink("trader"), StubSink("ops")
        alerts = AlertService(settings.alerts, store, {"trader": trader, "ops": ops}, clock)
        await alerts.start()
        statuses: list[FeedStatus] = []
        path = WalletPath(settings, alerts, clock, on_status=statuses.append)
        await path.start()
        env = WalletEnv(path, alerts, store, trader, ops, statuses)
        envs.append(env)
        return env

    yield start
    for env in envs:
        await env.path.stop(5.0)
        await env.alerts.stop(1.0)
        await env.store.close()
