"""Every background task has an owner, a name, its log context, and a cancel-with-timeout on stop.

`TaskSupervisor.keep` runs a task that must not die: each death is logged with its traceback, counted
(`cryptoradar_task_failures_total`), reported to `TaskEvents` and followed by a restart after a
doubling, capped pause. A task that keeps dying for `give_up_s` is handed to `TaskEvents.on_gave_up`:
the owner then stops and the process exits non-zero, so its service manager starts it afresh.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from cryptoradar.core.metrics import TASK_FAILURES

log = structlog.get_logger(__name__)

TaskFactory = Callable[[], Coroutine[Any, Any, Any]]


@dataclass(frozen=True)
class RestartPolicy:
    initial_s: float = 0.5
    max_s: float = 30.0
    """Longest pause between restarts."""
    give_up_s: float = 300.0
    """Still dying this long after the first death of a streak: give up. A restarted task that then runs
    this long without dying has recovered (a task blocked on a dead store is not "running fine" after a
    few seconds, so a shorter window would announce a recovery before every death)."""


class TaskEvents(Protocol):
    """What the owner of kept tasks hears (e.g. to send operator notices)."""

    def on_task_failed(self, task: str, error: BaseException, restart_in_s: float) -> None: ...

    def on_task_recovered(self, task: str) -> None: ...

    def on_gave_up(self, task: str, error: BaseException) -> None: ...


class _Streak:
    """The current run of deaths of one kept task."""

    def __init__(self, initial_s: float) -> None:
        self.initial_s = initial_s
        self.delay_s = initial_s
        self.since_s: float | None = None

    def reset(self) -> None:
        self.delay_s = self.initial_s
        self.since_s = None


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

    def __init__(
        self, name: str, policy: RestartPolicy | None = None, events: TaskEvents | None = None
    ) -> None:
        self.name = name
        self._policy = policy or RestartPolicy()
        self._events = events
        self._tasks: list[asyncio.Task[Any]] = []

    def start(self, coro: Coroutine[Any, Any, Any], name: str, **context: object) -> asyncio.Task[Any]:
        """Starts `coro` as a task named `<owner>:<name>`; `context` is bound for its log lines (`spawn`)."""
        task = spawn(coro, f"{self.name}:{name}", **context)
        task.add_done_callback(self._on_done)
        self._tasks.append(task)
        return task

    def keep(self, factory: TaskFactory, name: str, **context: object) -> asyncio.Task[Any]:
        """Like `start`, but a death (an exception) restarts `factory()` (see the module docstring). The
        task ends when the coroutine returns or the task is cancelled."""
        return self.start(self._kept(factory, f"{self.name}:{name}"), name, **context)

    async def _kept(self, factory: TaskFactory, name: str) -> None:
        loop = asyncio.get_running_loop()
        streak = _Streak(self._policy.initial_s)
        while True:
            recovered: asyncio.TimerHandle | None = None
            if streak.since_s is not None:
                recovered = loop.call_later(self._policy.give_up_s, self._recovered, name, streak)
            try:
                await factory()
                return
            except Exception as e:
                error = e
            finally:
                if recovered is not None:
                    recovered.cancel()
            now_s = loop.time()
            streak.since_s = now_s if streak.since_s is None else streak.since_s
            TASK_FAILURES.labels(name).inc()
            if now_s - streak.since_s >= self._policy.give_up_s:
                log.critical("task_gave_up", task=name, error=repr(error), failing_s=now_s - streak.since_s)
                if self._events is not None:
                    self._events.on_gave_up(name, error)
                return
            delay_s = streak.delay_s
            log.error("task_failed", task=name, error=repr(error), restart_in_s=delay_s, exc_info=error)
            if self._events is not None:
                self._events.on_task_failed(name, error, delay_s)
            await asyncio.sleep(delay_s)
            streak.delay_s = min(delay_s * 2, self._policy.max_s)
            log.info("task_restarted", task=name)

    def _recovered(self, name: str, streak: _Streak) -> None:
        streak.reset()
        log.info("task_recovered", task=name)
        if self._events is not None:
            self._events.on_task_recovered(name)

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
