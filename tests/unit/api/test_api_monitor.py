"""The event-loop lag monitor sees a blocked loop."""

from __future__ import annotations

import time

from conftest import eventually
from cryptoradar.api.monitor import EventLoopLagMonitor, rss_bytes


async def test_lag_monitor_measures_a_blocking_call() -> None:
    monitor = EventLoopLagMonitor(interval_s=0.01)
    monitor.start()
    try:
        await eventually(lambda: monitor.samples >= 1, what="a first sample")
        time.sleep(0.2)  # noqa: ASYNC251 - the subject: a synchronous call that blocks the loop
        await eventually(lambda: monitor.last_lag_s >= 0.15, what="the lag of the blocking call")
    finally:
        await monitor.stop()
    await monitor.stop()  # idempotent


def test_rss_is_reported_on_linux() -> None:
    assert rss_bytes() > 1_000_000
