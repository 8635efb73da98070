"""The 5-minute health summary is a pure function of plain inputs."""

from __future__ import annotations

from cryptoradar.api.summary import (
    HOUR_NS,
    DeliveryCounts,
    ErrorWindow,
    SummaryInputs,
    deliveries_from_counters,
    health_summary,
)
from cryptoradar.api.views import ConnectionView
from cryptoradar.events import ConnectionState

S = 1_000_000_000


def test_summary_counts_rates_and_renders() -> None:
    summary = health_summary(
        SummaryInputs(
            now_ns=10_000 * S,
            started_ns=10_000 * S - (2 * 3_600 + 5 * 60 + 7) * S,
            signals_by_direction={"bullish": 3, "bearish": 1},
            last_data_ns=10_000 * S - 4 * S,
            connections=[
                ConnectionView("binance", "spot-0", ConnectionState.CONNECTED),
                ConnectionView("binance", "spot-1", ConnectionState.CONNECTED),
                ConnectionView("binance", "usdm-0", ConnectionState.RECONNECTING),
            ],
            errors_last_hour=2,
            deliveries={"telegram": DeliveryCounts(49, 1), "discord": DeliveryCounts(0, 0)},
        )
    )
    assert summary.uptime_s == 7_507
    assert summary.connections == {"CONNECTED": 2, "RECONNECTING": 1}
    assert summary.delivery_success == {"telegram": 0.98, "discord": None}
    assert summary.render() == (
        "up 2h05m | signals: bearish 1 bullish 3 | last data 4s ago | "
        "connections: 2 CONNECTED, 1 RECONNECTING | errors (1h): 2 | delivery: discord n/a, telegram 98.0%"
    )


def test_summary_before_any_data() -> None:
    summary = health_summary(SummaryInputs(5 * S, 5 * S, {}, None, [], 0, {}))
    assert summary.render() == (
        "up 0h00m | signals: none | last data no data yet | connections: none | errors (1h): 0 | "
        "delivery: no channels"
    )


def test_error_window_forgets_errors_older_than_an_hour() -> None:
    window = ErrorWindow()
    for ts in (0, 10 * S, HOUR_NS - 1, HOUR_NS + 5 * S):
        window.record(ts)
    assert window.count(HOUR_NS) == 3
    assert window.count(HOUR_NS + 10 * S) == 2
    assert window.count(3 * HOUR_NS) == 0


def test_deliveries_from_counters_ignores_retries() -> None:
    samples = [
        ({"channel": "telegram", "outcome": "sent"}, 8.0),
        ({"channel": "telegram", "outcome": "retry"}, 5.0),
        ({"channel": "telegram", "outcome": "failed"}, 2.0),
        ({"channel": "discord", "outcome": "retry"}, 1.0),
    ]
    assert deliveries_from_counters(samples) == {
        "discord": DeliveryCounts(0, 0),
        "telegram": DeliveryCounts(8, 2),
    }
