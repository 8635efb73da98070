"""Process health metrics: event-loop lag, resident memory, uptime.

Registered on the shared `REGISTRY` at import, once per process.
"""

from __future__ import annotations

import asyncio

from prometheus_client import Histogram, ProcessCollector

from cryptoradar.core.metrics import REGISTRY

PROCESS_NAMESPACE = "cryptoradar"
RSS_METRIC = f"{PROCESS_NAMESPACE}_process_resident_memory_bytes"
START_TIME_METRIC = f"{PROCESS_NAMESPACE}_process_start_time_seconds"

# cryptoradar_process_{resident_memory_bytes,cpu_seconds_total,open_fds,start_time_seconds,...} (Linux).
PROCESS_COLLECTOR = ProcessCollector(namespace=PROCESS_NAMESPACE, registry=REGISTRY)

EVENT_LOOP_LAG_S = Histogram(
    "cryptoradar_event_loop_lag_seconds",
    "How late a timer of the asyncio loop fired: time the loop was busy with something else",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
    registry=REGISTRY,
)


class EventLoopLagMonitor:
    """Sleeps `interval_s` in a loop and records how much later than asked it woke up.

    A lag that grows means something blocks the loop (a sync call, a huge burst), which delays alerts.
    """

    def __init__(self, interval_s: float = 0.5) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None
        self.last_lag_s = 0.0
        self.samples = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="api:loop-lag")

    async def stop(self, timeout_s: float = 1.0) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        await asyncio.wait([task], timeout=timeout_s)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started_s = loop.time()
            await asyncio.sleep(self._interval_s)
            self.last_lag_s = max(0.0, loop.time() - started_s - self._interval_s)
            self.samples += 1
            EVENT_LOOP_LAG_S.observe(self.last_lag_s)


def rss_bytes() -> int:
    """Resident memory from the process collector; 0 where /proc is unavailable."""
    return int(REGISTRY.get_sample_value(RSS_METRIC) or 0)
