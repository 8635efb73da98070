"""The pipeline's per-event guard: one event that fails never ends the stream.

A failing event or signal is counted (`cryptoradar_pipeline_errors_total` by stage, error type and
outcome), logged with its traceback once per (stage, error type) and minute, and skipped. A transient
store error (SQLite busy/locked, a lost PostgreSQL connection) is retried with a doubling, capped pause
instead: the signal is never dropped for it. While it lasts the pipeline does not advance, which the
liveness check (`/healthz`) reports once it lasts longer than `lifecycle.pipeline_stall_s`.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import TypeVar

import asyncpg
import structlog

from cryptoradar.core.logging import LogOncePerKind
from cryptoradar.core.metrics import PIPELINE_ERRORS

log = structlog.get_logger(__name__)

T = TypeVar("T")

_RETRY_INITIAL_S = 0.05
_RETRY_MAX_S = 5.0
_ATTEMPTS_WHILE_STOPPING = 5
"""While stopping, a transient error is retried this often, then the event is given up (and logged): the
shutdown deadline must hold."""
_LOG_EVERY_S = 60.0
_TRANSIENT_SQLITE = ("database is locked", "database is busy", "database table is locked")
_TRANSIENT_OTHER = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    ConnectionError,
    TimeoutError,
)


class Stage(StrEnum):
    OBSERVE = "observe"
    DETECT = "detect"
    ADMIT = "admit"


class Outcome(StrEnum):
    RETRIED = "retried"
    SKIPPED = "skipped"


def is_transient(error: BaseException) -> bool:
    """A store error that goes away by itself: worth retrying rather than skipping the event."""
    if isinstance(error, sqlite3.OperationalError):
        return str(error).lower().startswith(_TRANSIENT_SQLITE)
    return isinstance(error, _TRANSIENT_OTHER)


class PipelineErrors:
    """Counts every failure and logs the first of each (stage, error type) per minute, with how many
    were not logged since."""

    def __init__(self) -> None:
        self._once = LogOncePerKind(_LOG_EVERY_S)

    def record(self, stage: Stage, error: BaseException, outcome: Outcome, **context: object) -> None:
        kind = type(error).__name__
        PIPELINE_ERRORS.labels(stage, kind, outcome).inc()
        key = f"{stage}:{kind}"
        if not self._once.should_log(key):
            return
        log.error(
            "pipeline_error",
            stage=stage.value,
            error=repr(error),
            outcome=outcome.value,
            not_logged_since=self._once.suppressed.pop(key, 0),
            exc_info=error,
            **context,
        )


async def with_store_retry(
    operation: Callable[[], Awaitable[T]], errors: PipelineErrors, stopping: Callable[[], bool]
) -> T:
    """`operation()`, retried while it fails with a transient store error (see the module docstring)."""
    delay_s = _RETRY_INITIAL_S
    attempts = 0
    while True:
        try:
            return await operation()
        except Exception as e:
            attempts += 1
            if not is_transient(e) or (stopping() and attempts >= _ATTEMPTS_WHILE_STOPPING):
                raise
            errors.record(Stage.ADMIT, e, Outcome.RETRIED, retry_in_s=delay_s)
        await asyncio.sleep(delay_s)
        delay_s = min(delay_s * 2, _RETRY_MAX_S)
