"""Readiness checks and freshness are pure functions of plain views."""

from __future__ import annotations

import pytest

from cryptoradar.api.readiness import (
    check_channels,
    check_connections,
    check_freshness,
    interval_ms,
    symbol_views,
)
from cryptoradar.api.views import ChannelView, ConnectionView, ReadinessReport, SymbolFreshness
from cryptoradar.events import ConnectionState


@pytest.mark.parametrize(
    ("interval", "expected_ms"),
    [
        ("1s", 1_000),
        ("1m", 60_000),
        ("15m", 900_000),
        ("4h", 14_400_000),
        ("1d", 86_400_000),
        ("1w", 604_800_000),
    ],
)
def test_interval_ms(interval: str, expected_ms: int) -> None:
    assert interval_ms(interval) == expected_ms


@pytest.mark.parametrize("interval", ["", "m", "0m", "1x", "-1m", "1.5h", "m1"])
def test_interval_ms_rejects_garbage(interval: str) -> None:
    with pytest.raises(ValueError, match="not an interval"):
        interval_ms(interval)


def test_stale_means_older_than_the_factor_times_the_interval_or_no_bar() -> None:
    views = symbol_views(
        [
            SymbolFreshness("spot", "AAA", "1m", 120_000),
            SymbolFreshness("spot", "BBB", "1m", 120_001),
            SymbolFreshness("spot", "CCC", "5m", 400_000),
            SymbolFreshness("usdm", "DDD", "1h", None),
        ],
        stale_after_intervals=2.0,
    )
    assert [(v.symbol, v.stale) for v in views] == [
        ("BBB", True),
        ("DDD", True),
        ("AAA", False),
        ("CCC", False),
    ]
    check = check_freshness(views)
    assert not check.ok
    assert check.detail == "2 stale: spot:BBB@1m 120001 ms old, usdm:DDD@1h has no bar yet"


def test_freshness_detail_lists_ten_then_counts() -> None:
    views = symbol_views([SymbolFreshness("spot", f"S{i:02d}", "1m", None) for i in range(25)], 2.0)
    detail = check_freshness(views).detail
    assert detail.startswith("25 stale: spot:S00@1m has no bar yet")
    assert detail.endswith("and 15 more")


def test_connections_must_exist_and_all_be_connected() -> None:
    assert not check_connections([]).ok
    up = ConnectionView("binance", "spot-0", ConnectionState.CONNECTED)
    down = ConnectionView("binance", "spot-1", ConnectionState.FAILED, detail="HTTP 418")
    assert check_connections([up]).ok
    check = check_connections([up, down])
    assert not check.ok
    assert check.detail == "1 of 2 down: binance/spot-1 is FAILED (HTTP 418)"


def test_a_failed_channel_fails_readiness_but_backoff_does_not() -> None:
    assert check_channels([ChannelView("discord", "backoff", retries=3)]).ok
    check = check_channels([ChannelView("discord", "failed", last_error="webhook deleted")])
    assert not check.ok
    assert "discord (webhook deleted)" in check.detail


def test_report_is_ready_only_when_every_check_is_ok() -> None:
    ok = check_channels([])
    bad = check_connections([])
    assert ReadinessReport([ok, ok]).ready
    assert not ReadinessReport([ok, bad]).ready
