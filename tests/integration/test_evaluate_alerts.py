"""`evaluate` scores alerts too: the simulator's signals through a real `AlertService` (SQLite outbox, the
configured cooldowns and routes, channels swapped for log files), every signal without an alert counted
under its reason, and both tables printed by the command."""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path

import msgspec
import pytest
from process_harness import CLI, write_yaml

from cryptoradar.alerts.rules import Suppression
from cryptoradar.config.alerts import AlertsConfig
from cryptoradar.config.detectors import DetectorsConfig
from cryptoradar.core.metrics import REGISTRY
from cryptoradar.evaluate import FeedOptions, evaluate_seed
from cryptoradar.evaluate.alerts import admit_signals
from cryptoradar.events import Signal
from fakes.signals import T0_NS, S, make_signal

RADAR_KINDS = ("large_liquidation", "whale_trade", "liquidation_storm", "whale_cluster", "radar")


def _radar(kind: str, at_ns: int = T0_NS) -> Signal:
    return make_signal(detector="futures_radar", kind=kind, symbol="ETHUSDT", timeframe="30s", at_ns=at_ns)


_METRIC_KEYS = (
    ("futures_radar", Suppression.DUPLICATE),
    ("momentum", Suppression.COOLDOWN),
    ("momentum", Suppression.NO_ROUTE),
    ("momentum", Suppression.DUPLICATE),
)


def _suppressed_metric(detector: str, reason: Suppression) -> float:
    value = REGISTRY.get_sample_value(
        "cryptoradar_alerts_suppressed_total", {"detector": detector, "reason": reason}
    )
    return value or 0.0


def test_each_reason_is_counted_where_it_applies() -> None:
    config = AlertsConfig.model_validate(
        {
            "channels": {"main": {"type": "console"}, "off": {"type": "console", "enabled": False}},
            "routes": [{"matchers": ['symbol="MUTEDUSDT"'], "channels": ["off"]}],
            "default_channels": ["main"],
            "fallback_channels": ["off"],
            "cooldowns": {"momentum": {"cooldown_s": 600}},
        }
    )
    same_window = [_radar(kind) for kind in RADAR_KINDS]
    signals = [
        *same_window,
        *(msgspec.structs.replace(s) for s in same_window),  # a true repeat
        make_signal(),
        make_signal(at_ns=T0_NS + 60 * S),  # inside the momentum cooldown
        make_signal(at_ns=T0_NS + 600 * S),  # exactly at its end: alerts
        make_signal(symbol="MUTEDUSDT"),  # routed to a disabled channel, with no live fallback
    ]
    before = {key: _suppressed_metric(*key) for key in _METRIC_KEYS}
    outcome = admit_signals(signals, config)
    assert [s.kind for s in outcome.alerted] == [*RADAR_KINDS, "momentum", "momentum"]
    assert outcome.suppressed == Counter(
        {
            **{("futures_radar", kind, Suppression.DUPLICATE): 1 for kind in RADAR_KINDS},
            ("momentum", "momentum", Suppression.COOLDOWN): 1,
            ("momentum", "momentum", Suppression.NO_ROUTE): 1,
        }
    )
    counted = {key: _suppressed_metric(*key) - before[key] for key in _METRIC_KEYS}
    assert counted == {
        ("futures_radar", Suppression.DUPLICATE): 5,
        ("momentum", Suppression.COOLDOWN): 1,
        ("momentum", Suppression.NO_ROUTE): 1,
        ("momentum", Suppression.DUPLICATE): 0,
    }


@pytest.fixture(scope="module")
def seed_11() -> FeedOptions:
    return FeedOptions(seed=11, symbols=40, days=0.5)


def test_every_signal_is_an_alert_or_a_reason(seed_11: FeedOptions) -> None:
    result = evaluate_seed(seed_11, DetectorsConfig())
    for (detector, kind), signals in result.counts.items():
        if kind == "*":
            continue
        alerts = result.alert_counts[(detector, kind)].signals
        held = sum(n for (d, k, _), n in result.suppressed.items() if (d, k) == (detector, kind))
        assert signals.signals == alerts + held, (detector, kind)
    radar_signals = result.counts[("futures_radar", "*")].signals
    assert radar_signals > 20
    assert result.alert_counts[("futures_radar", "*")].signals == radar_signals, "no radar signal lost"


def test_without_cooldowns_only_true_repeats_are_held(seed_11: FeedOptions) -> None:
    result = evaluate_seed(seed_11, DetectorsConfig(), AlertsConfig(cooldowns={}))
    assert result.alert_counts == result.counts
    assert not result.suppressed


def test_the_command_prints_both_tables_and_the_reasons(tmp_path: Path) -> None:
    config = write_yaml(tmp_path / "config.yaml", {"log": {"level": "WARNING"}})
    done = subprocess.run(
        [str(CLI), "evaluate", "--seeds", "11", "--symbols", "40", "--days", "0.5", "--workers", "1",
         "--config", str(config)],
        capture_output=True, text=True, timeout=300, env={"COLUMNS": "200", "PATH": ""},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "signals: seeds 11" in out
    assert "alerts (after dedup, cooldown and routing)" in out
    assert "signals without an alert, by reason" in out
    assert "│ confluence │ confluence │ duplicate_setup │" in out
