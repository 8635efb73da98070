"""Every background task has an owner, a name, its log context, and a cancel-with-timeout on stop."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine
from typing import Any

import structlog

log = structlog.get_logger(__name__)


def spawn(coro: Coroutine[Any, Any, Any], name: str, **context: object) -> asyncio.Task[Any]:
    """`asyncio.create_task` whose log lines carry `context` (e.g. connection_id, symbol): every structlog
    and stdlib record emitted inside the task, and inside tasks it starts, gets those keys. The caller's
    own context is left as it was."""
    task_context = contextvars.copy_context()
    if context:
        task_context.run(structlog.contextvars.bind_contextvars, **context)
    return asyncio.create_task(coro, name=name, context=task_context)


class TaskSupervisor:
    """Owns named tasks; logs any that die with an error; stops them in reverse start order."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._tasks: list[asyncio.Task[Any]] = []

    def start(self, coro: Coroutine[Any, Any, Any], name: str, **context: object) -> asyncio.Task[Any]:
        """Starts `coro` as a task named `<owner>:<name>`; `context` is bound for its log lines (`spawn`)."""
        task = spawn(coro, f"{self.name}:{name}", **context)
        task.add_done_callback(self._on_done)
        self._tasks.append(task)
        return task

    def _on_done(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("task_failed", task=task.get_name(), error=repr(exc))

    @property
    def tasks(self) -> list[asyncio.Task[Any]]:
        return [t for t in self._tasks if not t.done()]

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Cancel all tasks (newest first) and wait at most `timeout_s` for them to finish."""
        pending = [t for t in reversed(self._tasks) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            _, still_running = await asyncio.wait(pending, timeout=timeout_s)
            for task in still_running:
                log.warning("task_did_not_stop", task=task.get_name(), timeout_s=timeout_s)
        self._tasks.clear()
