"""Virtual time for delivery tests: a ManualClock plus a `sleep` that only returns when the test advances
the clock past its deadline, so ten minutes of outage take milliseconds and stay deterministic."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable

from conftest import eventually
from cryptoradar.core.clock import ManualClock


class VirtualTime:
    def __init__(self, start_ns: int) -> None:
        self.clock = ManualClock(start_ns)
        self._sleepers: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    async def sleep(self, delay_s: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        deadline = self.clock.now_ns() + max(0, int(delay_s * 1e9))
        heapq.heappush(self._sleepers, (deadline, next(self._seq), future))
        await future

    def _pending(self) -> list[tuple[int, int, asyncio.Future[None]]]:
        return [s for s in self._sleepers if not s[2].done()]

    async def advance(self, delta_s: float, settled: Callable[[], bool]) -> None:
        """Move time forward by `delta_s`, waking sleepers in deadline order. After each wake, wait until
        the system is settled again: `settled()` holds or someone sleeps."""
        target = self.clock.now_ns() + int(delta_s * 1e9)
        while True:
            await eventually(
                lambda: bool(self._pending()) or settled(), timeout_s=5, what="workers to settle"
            )
            self._sleepers = self._pending()
            heapq.heapify(self._sleepers)
            if not self._sleepers or self._sleepers[0][0] > target:
                break
            deadline, _, future = heapq.heappop(self._sleepers)
            self.clock.set(max(deadline, self.clock.now_ns()))
            future.set_result(None)
            await asyncio.sleep(0)
        self.clock.set(target)
