"""Routes, matchers and silences (pure)."""

from __future__ import annotations

import pytest
from signals import T0_NS, make_signal

from cryptoradar.alerts.routing import Router, alert_labels, compile_silence, silenced_by
from cryptoradar.config.alerts import AlertsConfig, parse_matcher
from cryptoradar.events import Severity

GROUPS = {"majors": ("BTCUSDT", "ETHUSDT"), "l1": ("ETHUSDT", "SOLUSDT")}


def config(**routes: object) -> AlertsConfig:
    return AlertsConfig.model_validate(
        {
            "channels": {n: {"type": "console"} for n in ("console", "log", "tg", "discord", "mail")},
            "symbol_groups": GROUPS,
            "group_wait_s": 1.5,
            **routes,
        }
    )


ROUTES = {
    "routes": [
        {"matchers": ['severity=~"high|critical"'], "channels": ["tg"], "continue": True},
        {"matchers": ['symbol_group="majors"', 'detector!="wallet"'], "channels": ["discord", "tg"]},
        {"matchers": ['kind=~"whale_.*"'], "channels": ["mail"], "group_by": ["symbol"], "group_wait_s": 0},
    ],
    "default_channels": ["console"],
}


def targets(cfg: AlertsConfig, **kw: object) -> list[str]:
    labels = alert_labels(make_signal(**kw), cfg.symbol_groups)  # type: ignore[arg-type]
    return [t.channel for t in Router(cfg).route(labels)]


def test_continue_and_first_match() -> None:
    cfg = config(**ROUTES)
    assert targets(cfg, severity=Severity.HIGH, symbol="BTCUSDT") == ["tg", "discord"]
    assert targets(cfg, severity=Severity.INFO, symbol="SOLUSDT", kind="whale_trade") == ["mail"]
    assert targets(cfg, severity=Severity.HIGH, symbol="SOLUSDT", kind="whale_trade") == ["tg", "mail"]
    assert targets(cfg, severity=Severity.INFO, symbol="DOGEUSDT") == ["console"]
    assert targets(cfg, severity=Severity.INFO, symbol="ETHUSDT", detector="wallet") == ["console"]


def test_group_keys_and_wait() -> None:
    cfg = config(**ROUTES)
    router = Router(cfg)
    a, b = (
        router.route(alert_labels(make_signal(severity=Severity.INFO, symbol=s, kind="whale_trade"), GROUPS))[
            0
        ]
        for s in ("SOLUSDT", "ADAUSDT")
    )
    assert (a.channel, a.group_wait_s) == ("mail", 0.0)
    assert a.group_key != b.group_key  # group_by symbol
    default = router.route(alert_labels(make_signal(severity=Severity.INFO, symbol="X"), GROUPS))[0]
    assert default.group_wait_s == 1.5
    same = router.route(alert_labels(make_signal(severity=Severity.INFO, symbol="Y"), GROUPS))[0]
    assert same.group_key == default.group_key  # default group_by: detector, kind, severity


def test_labels_cannot_be_spoofed_and_missing_label_is_empty() -> None:
    labels = alert_labels(make_signal(labels={"detector": "fake", "regime": "trend"}), GROUPS)
    assert labels["detector"] == "momentum"
    assert labels["regime"] == "trend"
    assert labels["symbol_group"] == "majors"
    cfg = config(routes=[{"matchers": ['pattern=""'], "channels": ["log"]}])
    assert targets(cfg) == ["log"]


def test_matcher_parsing_errors() -> None:
    assert str(parse_matcher('symbol =~ "BTC.*"')) == 'symbol=~"BTC.*"'
    assert parse_matcher("severity!=info").value == "info"
    for bad in ("symbol", "=x", 'symbol=~"("'):
        with pytest.raises(ValueError, match="matcher"):
            parse_matcher(bad)


def test_unknown_channel_in_route_fails_at_load() -> None:
    with pytest.raises(ValueError, match="not defined"):
        config(routes=[{"matchers": [], "channels": ["pager"]}])


def test_silences_match_until_end() -> None:
    silence = compile_silence(7, ['symbol_group="l1"', 'severity!="critical"'], until_ns=T0_NS + 10)
    eth = alert_labels(make_signal(symbol="ETHUSDT"), GROUPS)
    assert silenced_by([silence], eth, T0_NS + 9) == 7
    assert silenced_by([silence], eth, T0_NS + 10) is None
    critical = alert_labels(make_signal(symbol="ETHUSDT", severity=Severity.CRITICAL), GROUPS)
    assert silenced_by([silence], critical, T0_NS) is None
    btc = alert_labels(make_signal(symbol="BTCUSDT"), GROUPS)
    assert silenced_by([silence], btc, T0_NS) is None
