"""Running a `Radar` as a service: wait for stop, reload on request, stop within the deadline."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from cryptoradar.app.radar import Radar
from cryptoradar.config import Settings
from cryptoradar.core.errors import ConfigError

log = structlog.get_logger(__name__)

LoadSettings = Callable[[], Settings]
"""Re-reads the configuration (the same file and environment the process started with)."""


async def serve(
    radar: Radar, stop: asyncio.Event, reload_requested: asyncio.Event, load: LoadSettings
) -> bool:
    """Until `stop` is set: apply a reload each time `reload_requested` is set (SIGHUP). Then stop the
    radar within `lifecycle.shutdown_deadline_s`. Returns False when the deadline was exceeded or the
    radar failed (a task that could not recover, `Radar.failed`): the process must then exit non-zero so
    its service manager restarts it."""
    waiters = {"stop": stop, "reload": reload_requested, "failed": radar.failed}
    while not (stop.is_set() or radar.failed.is_set()):
        tasks = {asyncio.create_task(event.wait(), name=f"serve:{name}") for name, event in waiters.items()}
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
        if reload_requested.is_set() and not (stop.is_set() or radar.failed.is_set()):
            reload_requested.clear()
            await reload_from(radar, load)
    deadline_s = radar.settings.lifecycle.shutdown_deadline_s
    log.info("shutdown_started", deadline_s=deadline_s)
    try:
        # The stages share 90 % of the deadline; the rest is slack for closing sockets and the store.
        await asyncio.wait_for(radar.stop(timeout_s=deadline_s * 0.9), timeout=deadline_s)
    except TimeoutError:
        log.error("shutdown_deadline_exceeded", deadline_s=deadline_s)
        return False
    if radar.failed.is_set():
        log.critical("service_failed", exit="non-zero, for the service manager to restart it")
        return False
    return True


async def reload_from(radar: Radar, load: LoadSettings) -> None:
    """Load the configuration again and hand it to `radar.reload`; a bad file changes nothing."""
    try:
        new = load()
    except ConfigError as e:
        log.error("reload_failed", error=str(e))
        return
    await radar.reload(new)
