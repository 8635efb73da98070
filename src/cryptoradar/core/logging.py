"""structlog set-up, an optional rotating log file, and a rate limiter for repeated warnings."""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from collections.abc import Iterable, Iterator
from logging.handlers import BaseRotatingHandler
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, quote, quote_plus, unquote, unquote_plus, urlsplit

import structlog

from cryptoradar.core.clock import Clock, SystemClock

LogFormat = Literal["json", "console", "auto"]

_NS_PER_S = 1_000_000_000
MIN_SECRET_LEN = 4
"""Shorter secret values are not redacted (here or in API responses): replacing "a" everywhere would
garble every line."""
REDACTED = "**********"
_MIN_PIECE_LEN = 10
"""A piece of a secret URL (path segment, user, host) shorter than this is redacted only if it mixes
letters and digits: "webhooks" or "radar" are words that appear in every log, "T0A1B2C3" is a token."""
_CREDENTIAL_KEY = re.compile(r"token|key|secret|pass|auth|sig|cred", re.IGNORECASE)
_PERCENT_HEX = re.compile(r"%[0-9A-F]{2}")
_OUR_HANDLER = "_cryptoradar_handler"
"""Attribute marking handlers installed here, so configuring twice replaces instead of duplicating."""


def configure_logging(
    level: str = "INFO",
    fmt: LogFormat = "auto",
    *,
    file_path: Path | None = None,
    max_bytes: int = 50 * 1024 * 1024,
    rotate_every_s: float = 86_400.0,
    retention_s: float = 7 * 86_400.0,
    secrets: Iterable[str] = (),
) -> None:
    """JSON lines in production, readable output on a TTY.

    Every record, structlog's and the stdlib's (aiohttp, apprise, websockets...), goes through stdlib
    logging to stderr and, with `file_path`, to that file as JSON lines; the file rotates by size and on
    UTC `rotate_every_s` boundaries, and rotated files older than `retention_s` are deleted. Each of
    `secrets` (values of at least 4 characters) is replaced by `**********` anywhere in a record, its
    rendered exception included: the last line of defence when a library logs a URL with a key in it.
    """
    use_console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer() if use_console else structlog.processors.JSONRenderer()
    )
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    redact = SecretRedactor(secrets)
    level_no = logging.getLevelName(level.upper())
    _remove_our_handlers()
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    handlers[0].setFormatter(_formatter(shared, redact, renderer))
    if file_path is not None:
        file_handler = RetainingRotatingFileHandler(file_path, max_bytes, rotate_every_s, retention_s)
        file_handler.setFormatter(_formatter(shared, redact, structlog.processors.JSONRenderer()))
        handlers.append(file_handler)
    root = logging.getLogger()
    for handler in handlers:
        setattr(handler, _OUR_HANDLER, True)
        root.addHandler(handler)
    root.setLevel(level_no)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(level_no),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )


def secret_forms(secrets: Iterable[str]) -> list[str]:
    """Every form a secret takes once a library rewrote it, longest first (so a secret containing another
    is replaced whole): URL-decoded and URL-encoded (either hex case, `+` for spaces or not); for a URL, the
    URL without its scheme (Apprise logs `json://h/p` as `http://h/p`) and its credential pieces apart
    (password, user, a host that is a token as in `tgram://TOKEN/CHAT`, path segments, query values),
    each in those forms too. Values shorter than `MIN_SECRET_LEN` are left out."""
    forms: set[str] = set()
    for secret in secrets:
        for piece in (secret, *_url_pieces(secret)):
            for text in (piece, unquote(piece)):
                quoted = {text, quote(text, safe=""), quote(text), quote_plus(text), unquote_plus(text)}
                quoted |= {_PERCENT_HEX.sub(lambda m: m.group(0).lower(), q) for q in quoted}
                forms |= {f for f in quoted if len(f) >= MIN_SECRET_LEN}
    return sorted(forms, key=len, reverse=True)


def _url_pieces(secret: str) -> Iterator[str]:
    try:
        parts = urlsplit(secret)
    except ValueError:
        return
    if not parts.scheme or not parts.netloc:
        return
    rest = secret.split("://", 1)[-1] if "://" in secret else secret[len(parts.scheme) + 1 :].lstrip("/")
    yield rest
    userinfo, _, host = parts.netloc.rpartition("@")
    user, has_password, password = userinfo.partition(":")
    if has_password:
        yield password
    yield from (p for p in (user, host, host.rsplit(":", 1)[0]) if _token_like(p) and not _hostname(p))
    yield from (seg for seg in parts.path.split("/") if _token_like(seg))
    for key, value in parse_qsl(parts.query, keep_blank_values=False):
        if _CREDENTIAL_KEY.search(key) or _token_like(value):
            yield value


def _token_like(piece: str) -> bool:
    if len(piece) >= _MIN_PIECE_LEN:
        return True
    return (
        len(piece) >= MIN_SECRET_LEN and any(c.isdigit() for c in piece) and any(c.isalpha() for c in piece)
    )


def _hostname(piece: str) -> bool:
    """A DNS name or IP (with or without port): where a URL goes, not a credential."""
    host = piece.rsplit(":", 1)[0] if piece.count(":") == 1 else piece
    return "." in host or host in ("localhost", "") or host.startswith("[")


class SecretRedactor:
    """A structlog processor replacing secret values (in every form `secret_forms` knows) inside every
    string of an event (nested too)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        forms = secret_forms(secrets)
        # One alternation, longest first, so a secret containing another is replaced whole (and about
        # 7 us instead of 9 us per 8-field record with 9 URL secrets, 82 forms: docs/decisions.md).
        self._pattern = re.compile("|".join(map(re.escape, forms))) if forms else None

    def __call__(
        self, _logger: object, _method: str, event_dict: structlog.typing.EventDict
    ) -> structlog.typing.EventDict:
        pattern = self._pattern
        if pattern is None:
            return event_dict
        return {key: self._scrub(value, pattern) for key, value in event_dict.items()}

    def _scrub(self, value: object, pattern: re.Pattern[str]) -> object:
        if isinstance(value, str):
            return pattern.sub(REDACTED, value)
        if isinstance(value, dict):
            return {k: self._scrub(v, pattern) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._scrub(v, pattern) for v in value]
        return value


def _formatter(
    shared: list[structlog.typing.Processor],
    redact: SecretRedactor,
    renderer: structlog.typing.Processor,
) -> structlog.stdlib.ProcessorFormatter:
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact,
            renderer,
        ],
    )


def _remove_our_handlers() -> None:
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _OUR_HANDLER, False)]:
        root.removeHandler(handler)
        handler.close()


class RetainingRotatingFileHandler(BaseRotatingHandler):
    """Rotates when the file would pass `max_bytes` or a UTC `rotate_every_s` boundary is crossed.

    The current file keeps its name; a rotated one becomes `<name>.<UTC yyyymmddTHHMMSS>[.<n>]`. After each
    rotation, rotated files last written more than `retention_s` ago are deleted. (The stdlib offers size
    *or* time rotation, not both, and its timed handler overwrites a same-interval backup.)
    """

    def __init__(
        self,
        path: Path,
        max_bytes: int,
        rotate_every_s: float,
        retention_s: float,
        clock: Clock | None = None,
    ) -> None:
        if max_bytes <= 0 or rotate_every_s <= 0 or retention_s <= 0:
            raise ValueError("max_bytes, rotate_every_s and retention_s must be positive")
        path.parent.mkdir(parents=True, exist_ok=True)
        super().__init__(path, "a", encoding="utf-8", delay=False)
        self._path = path
        self._max_bytes = max_bytes
        self._every_ns = int(rotate_every_s * _NS_PER_S)
        self._retention_ns = int(retention_s * _NS_PER_S)
        self._clock = clock or SystemClock()
        self._next_rollover_ns = self._boundary_after(self._clock.now_ns())

    @property
    def rotate_every_s(self) -> float:
        return self._every_ns / _NS_PER_S

    @property
    def retention_s(self) -> float:
        return self._retention_ns / _NS_PER_S

    def _boundary_after(self, now_ns: int) -> int:
        return (now_ns // self._every_ns + 1) * self._every_ns

    def shouldRollover(self, record: logging.LogRecord) -> bool:
        if self._clock.now_ns() >= self._next_rollover_ns:
            return True
        if self.stream is None:
            return False
        size = self.stream.tell()
        return size > 0 and size + len(self.format(record)) + 1 > self._max_bytes

    def doRollover(self) -> None:
        if self.stream is not None:
            self.stream.close()
        now_ns = self._clock.now_ns()
        if self._path.exists() and self._path.stat().st_size > 0:
            self._path.rename(self._rotated_name(now_ns))
        self.stream = self._open()
        self._next_rollover_ns = self._boundary_after(now_ns)
        self.delete_expired(now_ns)

    def _rotated_name(self, now_ns: int) -> Path:
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now_ns // _NS_PER_S))
        candidate = self._path.with_name(f"{self._path.name}.{stamp}")
        n = 1
        while candidate.exists():
            candidate = self._path.with_name(f"{self._path.name}.{stamp}.{n}")
            n += 1
        return candidate

    def rotated_files(self) -> list[Path]:
        return sorted(self._path.parent.glob(f"{self._path.name}.*"))

    def delete_expired(self, now_ns: int) -> None:
        cutoff_ns = now_ns - self._retention_ns
        for rotated in self.rotated_files():
            try:
                if rotated.stat().st_mtime_ns < cutoff_ns:
                    os.remove(rotated)
            except FileNotFoundError:
                continue  # removed concurrently (another process sharing the directory)


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
