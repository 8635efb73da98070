"""What a person would have received: the scored signals through a real `AlertService`.

The signals go, in event order, through the service with the configured cooldowns, symbol groups, routes
and channel switches, over a throw-away SQLite outbox, so dedup, cooldown and routing decide exactly as
in `cryptoradar run`. Only the channels differ: each configured channel is replaced by a log channel of
the same name writing to a temporary folder (an evaluation must not message anyone). A signal with no
alert is counted under its `Suppression` reason.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptoradar.alerts.rules import Suppression
from cryptoradar.alerts.service import AlertService
from cryptoradar.config.alerts import AlertsConfig, ChannelConfig, LogChannel
from cryptoradar.core.clock import SystemClock
from cryptoradar.events import Signal
from cryptoradar.sinks import build_sink
from cryptoradar.storage.sqlite import SqliteStore

SuppressedKey = tuple[str, str, Suppression]
"""(detector, kind, reason)"""


@dataclass(frozen=True, slots=True)
class AlertOutcome:
    alerted: tuple[Signal, ...]
    """The signals that became an alert with a channel to go to, in event order."""
    suppressed: Counter[SuppressedKey]


def offline_channels(config: AlertsConfig, folder: Path) -> AlertsConfig:
    """`config` with every channel a log file in `folder` (same names and switches, so routes hold)."""
    channels: dict[str, ChannelConfig] = {
        name: LogChannel(path=folder / f"{name}.jsonl", enabled=channel.enabled, rate_limits=())
        for name, channel in config.channels.items()
    }
    return config.model_copy(update={"channels": channels})


async def _admit_all(signals: Sequence[Signal], config: AlertsConfig, folder: Path) -> AlertOutcome:
    # NORMAL: the outbox is thrown away after the run, so a commit needs no fsync.
    store = SqliteStore(folder / "alerts.db", synchronous="NORMAL")
    await store.open()
    try:
        sinks = {name: build_sink(name, channel) for name, channel in config.channels.items()}
        service = AlertService(config, store, sinks, SystemClock())
        await service.start()
        alerted: list[Signal] = []
        suppressed: Counter[SuppressedKey] = Counter()
        try:
            for signal in signals:
                admission = await service.admit(signal)
                if admission.suppressed is None:
                    alerted.append(signal)
                else:
                    suppressed[(signal.detector, signal.kind, admission.suppressed)] += 1
        finally:
            await service.stop()
    finally:
        await store.close()
    return AlertOutcome(tuple(alerted), suppressed)


def admit_signals(signals: Sequence[Signal], config: AlertsConfig) -> AlertOutcome:
    """Run `signals` (event order) through a fresh `AlertService` configured like `config`."""
    with tempfile.TemporaryDirectory(prefix="cryptoradar-evaluate-") as tmp:
        folder = Path(tmp)
        return asyncio.run(_admit_all(signals, offline_channels(config, folder), folder))
