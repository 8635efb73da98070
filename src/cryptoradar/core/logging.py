"""structlog set-up and a rate limiter for repeated warnings."""

from __future__ import annotations

import logging
import sys
from typing import Literal

import structlog

from cryptoradar.core.clock import Clock, SystemClock

LogFormat = Literal["json", "console", "auto"]


def configure_logging(level: str = "INFO", fmt: LogFormat = "auto") -> None:
    """JSON lines in production, readable output on a TTY."""
    use_console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer() if use_console else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


class LogOncePerKind:
    """Lets a warning of one kind through at most once per `interval_s`; counts what it held back.

    Used for bad input: a malformed frame storm must not become a log storm.
    """

    def __init__(self, interval_s: float = 60.0, clock: Clock | None = None) -> None:
        self._interval_ns = int(interval_s * 1e9)
        self._clock = clock or SystemClock()
        self._last_ns: dict[str, int] = {}
        self.suppressed: dict[str, int] = {}

    def should_log(self, kind: str) -> bool:
        now = self._clock.now_ns()
        last = self._last_ns.get(kind)
        if last is None or now - last >= self._interval_ns:
            self._last_ns[kind] = now
            return True
        self.suppressed[kind] = self.suppressed.get(kind, 0) + 1
        return False
