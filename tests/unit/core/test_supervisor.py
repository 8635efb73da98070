from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import structlog

from cryptoradar.core.supervisor import TaskSupervisor, spawn


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


@pytest.fixture
def captured() -> Iterator[structlog.testing.LogCapture]:
    """structlog with the production context merge in front of a capture (restored afterwards)."""
    saved = structlog.get_config()
    capture = structlog.testing.LogCapture()
    structlog.configure(processors=[structlog.contextvars.merge_contextvars, capture])
    try:
        yield capture
    finally:
        structlog.configure(**saved)


async def test_spawned_tasks_log_with_their_own_context(captured: structlog.testing.LogCapture) -> None:
    log = structlog.get_logger("test")

    async def connection() -> None:
        log.info("frame_dropped")
        await spawn(child(), "child")  # a task it starts inherits its context

    async def child() -> None:
        log.info("child_done")

    supervisor = TaskSupervisor("test")
    with structlog.contextvars.bound_contextvars(request="outer"):
        await asyncio.gather(
            supervisor.start(connection(), "a", connection_id="spot-1"),
            spawn(connection(), "b", connection_id="usdm-1", symbol="BTCUSDT"),
        )
        log.info("caller_after")
    lines = [
        (e["event"], e.get("connection_id"), e.get("symbol"), e.get("request")) for e in captured.entries
    ]
    assert sorted(lines[:4], key=str) == sorted(
        [
            ("frame_dropped", "spot-1", None, "outer"),
            ("frame_dropped", "usdm-1", "BTCUSDT", "outer"),
            ("child_done", "spot-1", None, "outer"),
            ("child_done", "usdm-1", "BTCUSDT", "outer"),
        ],
        key=str,
    )
    assert lines[4] == ("caller_after", None, None, "outer"), "the caller's context is untouched"
