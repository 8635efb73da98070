"""Every signal kind judged at the channel, not at the detector: real detector output (and real wallet
trades) through `AlertService` over a SQLite outbox and the webhook sink to a loopback receiver.

For each kind: every distinct signal arrives exactly once, and a true repeat (the same signals submitted
again) is suppressed as a duplicate and sends nothing. The radar set-up is the one issue 14 found: a
liquidation and a whale trade at the same instant, so every radar kind (and the composite's escalation
to a convergence) starts its window at the same event, which the old dedup key took for one alert.
"""

from __future__ import annotations

import math
import re
import sqlite3
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import pytest
from process_harness import WebhookStub, spawn, webhook_stub, write_yaml

from conftest import eventually
from cryptoradar.alerts.rules import Suppression
from cryptoradar.alerts.service import AlertService
from cryptoradar.config.alerts import AlertsConfig
from cryptoradar.config.detectors import ConfluenceConfig, MomentumConfig, RadarConfig
from cryptoradar.detectors.confluence import ConfluenceDetector
from cryptoradar.detectors.momentum import MomentumDetector
from cryptoradar.detectors.radar import FuturesRadar, RadarKind
from cryptoradar.events import Side, Signal
from fakes.alerts import running_service
from fakes.signals import make_signal, make_trade

sys.path.insert(0, str(Path(__file__).parents[1] / "unit" / "detectors"))
from detector_factories import NS_PER_MS, NS_PER_S, confluence_bars, liquidation, momentum_bars, trade

T_NS = 1_767_225_600 * NS_PER_S
DEMO_S = 45.0


def radar_signals() -> list[Signal]:
    """Shorts liquidated and whales buying BTCUSDT from the same instant: a large liquidation, a whale
    trade, a storm, a cluster, and the composite twice (storm only, then the convergence). Event times in
    whole milliseconds, as Binance stamps them."""
    radar = FuturesRadar(RadarConfig())
    out = radar.on_liquidation(liquidation("BTCUSDT", T_NS, 1e6, side=Side.BUY))
    out += radar.on_trade(trade("BTCUSDT", T_NS, 1e6, buy=True))
    out += radar.on_liquidation(liquidation("BTCUSDT", T_NS + NS_PER_S, 1e6, side=Side.BUY))
    out += radar.on_trade(trade("BTCUSDT", T_NS + NS_PER_S + NS_PER_MS, 1e6, buy=True))
    out += radar.on_trade(trade("BTCUSDT", T_NS + NS_PER_S + 2 * NS_PER_MS, 1e6, buy=True))
    return out


def momentum_signals(symbols: tuple[str, ...]) -> list[Signal]:
    """One symbol breaking out alone: `momentum`; three together: one `momentum_group`."""
    detector = MomentumDetector(MomentumConfig())
    out: list[Signal] = []
    for symbol in symbols:
        for bar in momentum_bars(symbol):
            out += detector.on_bar(bar)
    return out + detector.flush(math.inf)


def confluence_signals() -> list[Signal]:
    """A bullish set-up on 1m and the same on 5m: two confluence signals."""
    out: list[Signal] = []
    for interval in ("1m", "5m"):
        detector = ConfluenceDetector(ConfluenceConfig())
        for bar in confluence_bars(interval=interval):
            out += detector.on_bar(bar)
    return out


SIGNAL_KINDS: dict[str, Callable[[], list[Signal]]] = {
    "momentum": lambda: momentum_signals(("AAAUSDT",)),
    "momentum_group": lambda: momentum_signals(("AAAUSDT", "BBBUSDT", "CCCUSDT")),
    "confluence": confluence_signals,
    "futures_radar": radar_signals,
}


@dataclass
class Rig:
    service: AlertService
    hook: WebhookStub
    sentinels: set[int] = field(default_factory=set)

    async def drain(self) -> Counter[int]:
        """Every alert id the receiver got so far, once the channel has sent all that was queued: a fresh
        sentinel alert goes out behind them (one channel delivers in order), so waiting for it is waiting
        for the queue, never for a fixed time."""
        sentinel = await self.service.submit(make_signal(symbol=f"SENTINEL{len(self.sentinels)}USDT"))
        assert sentinel is not None
        self.sentinels.add(sentinel)
        await eventually(lambda: sentinel in self.hook.alert_ids, timeout_s=20, what="the sentinel alert")
        return Counter(i for i in self.hook.alert_ids if i not in self.sentinels)


@asynccontextmanager
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with webhook_stub() as hook:
        config = AlertsConfig.model_validate(
            {
                "channels": {"hook": {"type": "webhook", "url": hook.url, "secret": "kinds-secret", "rate_limits": []}},
                # Cooldowns are their own rule (tested in unit/alerts); here only the dedup key decides.
                "cooldowns": {},
                "group_wait_s": 0,
                "default_channels": ["hook"],
                "fallback_channels": ["hook"],
            }
        )  # fmt: skip
        async with running_service(config, tmp_path / "alerts.db") as (service, _store):
            yield Rig(service, hook)


async def _admit_all(
    service: AlertService, signals: list[Signal]
) -> list[tuple[int | None, Suppression | None]]:
    return [((a := await service.admit(s)).alert_id, a.suppressed) for s in signals]


@pytest.mark.parametrize("source", list(SIGNAL_KINDS))
async def test_each_distinct_signal_alerts_once_and_a_repeat_never(source: str, tmp_path: Path) -> None:
    signals = SIGNAL_KINDS[source]()
    if source == "futures_radar":
        kinds = Counter(s.kind for s in signals)
        assert kinds == {k: 1 for k in RadarKind} | {RadarKind.RADAR: 2}, kinds
        assert len({s.window_start_ms for s in signals}) == 1, "every radar window starts at one event"
    else:
        assert {s.kind for s in signals} == {source}
    assert len(signals) >= 1
    async with rig(tmp_path) as r:
        first = await _admit_all(r.service, signals)
        assert [reason for _, reason in first] == [None] * len(signals), "every distinct signal is an alert"
        ids = [alert_id for alert_id, _ in first]
        delivered = await r.drain()
        assert delivered == Counter({i: 1 for i in ids if i is not None}), "each exactly once at the channel"

        again = await _admit_all(r.service, [msgspec.structs.replace(s) for s in signals])
        assert again == [(None, Suppression.DUPLICATE)] * len(signals)
        assert await r.drain() == delivered, "a repeat sends nothing"


async def test_wallet_trades_and_corrections_alert_once(tmp_path: Path) -> None:
    trades = [make_trade(tx_hash="0xA1"), make_trade(tx_hash="0xA2"), make_trade(tx_hash="0xA1", log_index=2)]
    async with rig(tmp_path) as r:
        ids = [await r.service.submit_wallet_trade(t) for t in trades]
        assert None not in ids
        assert await r.drain() == Counter({i: 1 for i in ids if i is not None})
        assert [await r.service.submit_wallet_trade(t) for t in trades] == [None] * 3, (
            "a repeat is a duplicate"
        )

        reorged = msgspec.structs.replace(trades[0], removed=True)
        correction = await r.service.submit_wallet_trade(reorged)
        assert correction is not None, "the sent original gets a correction"
        assert await r.service.submit_wallet_trade(reorged) is None, "the same reorg seen twice corrects once"
        assert await r.drain() == Counter({i: 1 for i in [*ids, correction] if i is not None})


# -- the demo in a child process ------------------------------------------------------------------------

ACCOUNT_ROW = re.compile(r"│ signals -> alerts: (\w+) +│ +([\d,]+) -> ([\d,]+)(?: \((.*)\))? │")


def _accounts(stdout: str) -> dict[str, tuple[int, int, str]]:
    """kind -> (signals, alerts, reasons) from the demo summary's per-kind "signals -> alerts" rows."""
    return {
        m[1]: (int(m[2].replace(",", "")), int(m[3].replace(",", "")), m[4] or "")
        for m in ACCOUNT_ROW.finditer(stdout)
    }


async def test_the_demo_delivers_every_radar_kind_it_detects(tmp_path: Path) -> None:
    """`cryptoradar demo` against its simulator, with the default cooldowns and a webhook channel: every
    kind's signals are its alerts plus named suppressions, and each alert reaches the receiver once."""
    async with webhook_stub() as hook:
        config = write_yaml(
            tmp_path / "demo.yaml",
            {
                "log": {"level": "WARNING", "format": "json"},
                "alerts": {
                    "channels": {"hook": {"type": "webhook", "url": hook.url, "secret": "s", "rate_limits": []}},
                    "default_channels": ["hook"],
                    "fallback_channels": ["hook"],
                    "group_wait_s": 0,
                },
            },
        )  # fmt: skip
        state = tmp_path / "state"
        args = ["demo", "--config", str(config), "--duration", str(DEMO_S), "--state-dir", str(state)]
        child = await spawn(args, tmp_path, "demo")
        assert await child.wait(DEMO_S + 90) == 0, child.stderr.read_text()
        delivered = Counter(hook.alert_ids)

    stdout = child.stdout.read_text()
    # The latest-signals table prints numbers for humans (issue 16: it printed `entry=8.845e+04`).
    assert "key numbers" in stdout
    assert not re.search(r"\de[+-]\d", stdout), "a number in scientific notation"
    accounts = _accounts(stdout)
    radar_kinds = {k for k in accounts if k in set(RadarKind)}
    assert {RadarKind.LIQUIDATION_STORM, RadarKind.RADAR} <= radar_kinds, accounts
    assert all("unexplained" not in reasons for _, _, reasons in accounts.values()), accounts
    # One run replays nothing: a "duplicate" here would be a distinct signal lost (issue 14's finding).
    assert all("duplicate " not in reasons for _, _, reasons in accounts.values()), accounts
    assert all(accounts[kind][1] >= 1 for kind in radar_kinds), accounts
    db = sqlite3.connect(state / "cryptoradar.db")
    try:
        stored = dict(db.execute("SELECT id, type FROM alerts").fetchall())
    finally:
        db.close()
    assert set(delivered.values()) == {1}, "every alert arrives exactly once"
    assert set(delivered) == set(stored), "every stored alert reached the channel"
    for kind, (signals, alerts, reasons) in accounts.items():
        assert Counter(stored.values())[kind] == alerts, (kind, accounts[kind])
        held = sum(int(n.replace(",", "")) for n in re.findall(r"[a-z_]+ ([\d,]+)", reasons))
        assert signals == alerts + held, (kind, accounts[kind])
