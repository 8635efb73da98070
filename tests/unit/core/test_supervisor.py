from __future__ import annotations

import asyncio

from cryptoradar.core.supervisor import TaskSupervisor


async def test_stop_cancels_running_tasks_and_does_not_wait_past_its_timeout() -> None:
    supervisor = TaskSupervisor("test")
    cancelled = asyncio.Event()
    release = asyncio.Event()

    async def polite() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def slow_to_stop() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            await release.wait()
            raise

    supervisor.start(polite(), "polite")
    slow = supervisor.start(slow_to_stop(), "slow")
    await asyncio.sleep(0)
    assert len(supervisor.tasks) == 2
    await supervisor.stop(timeout_s=0.05)
    assert cancelled.is_set()
    assert not slow.done()
    release.set()
    await asyncio.wait([slow])
    assert slow.cancelled()
