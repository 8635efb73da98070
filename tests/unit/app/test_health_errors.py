"""The health summary's "errors in the last hour" counts every ERROR record, ours and libraries'."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import structlog

from cryptoradar.app.health import ErrorLogCounter, HealthTracker
from cryptoradar.core.clock import ManualClock
from cryptoradar.core.logging import configure_logging

HOUR_NS = 3_600 * 1_000_000_000


@pytest.fixture
def tracker() -> Iterator[tuple[HealthTracker, ManualClock]]:
    configure_logging("INFO", "json")  # structlog through stdlib logging, as the CLI sets it up
    clock = ManualClock(10 * HOUR_NS)
    tracker = HealthTracker(clock)
    counter = ErrorLogCounter(tracker)
    counter.install()
    try:
        yield tracker, clock
    finally:
        counter.remove()


def test_error_records_from_structlog_and_libraries_are_counted_for_an_hour(
    tracker: tuple[HealthTracker, ManualClock],
) -> None:
    health, clock = tracker
    structlog.get_logger("cryptoradar.alerts").error("alert_store_write_failed", channel="log")
    logging.getLogger("aiohttp.server").exception("Error handling request")
    structlog.get_logger("cryptoradar.sources").warning("connection_lost")  # a warning is not an error
    assert health.summary([]).errors_last_hour == 2
    clock.advance(HOUR_NS // 2)
    structlog.get_logger("cryptoradar.core").critical("task_failed")
    assert health.summary([]).errors_last_hour == 3
    clock.advance(HOUR_NS // 2)
    assert health.summary([]).errors_last_hour == 1, "the first two are more than an hour old"


def test_removed_counter_counts_nothing(tracker: tuple[HealthTracker, ManualClock]) -> None:
    health, _ = tracker
    counter = next(h for h in logging.getLogger().handlers if isinstance(h, ErrorLogCounter))
    counter.remove()
    structlog.get_logger("test").error("after_removal")
    assert health.summary([]).errors_last_hour == 0
