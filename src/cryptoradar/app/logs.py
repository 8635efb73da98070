"""Logging configured from `settings.log`: level, format and the rotating JSON-lines file."""

from __future__ import annotations

from collections.abc import Iterable

from cryptoradar.api import secret_values
from cryptoradar.config.settings import LogConfig, Settings
from cryptoradar.core.logging import configure_logging

_S_PER_DAY = 86_400.0
_ROTATE_EVERY_S = {"hour": 3_600.0, "day": _S_PER_DAY}


def configure_logging_for(settings: Settings, *, level: str | None = None) -> None:
    """Logging from `settings.log` (level overridable), redacting every secret value in `settings`."""
    log = settings.log if level is None else settings.log.model_copy(update={"level": level})
    configure_logging_from(log, secrets=secret_values(settings))


def configure_logging_from(log: LogConfig, *, secrets: Iterable[str] = ()) -> None:
    """Apply `log` process-wide; callable again (e.g. after a reload) without duplicating handlers."""
    configure_logging(
        log.level,
        log.format,
        file_path=log.file.path,
        max_bytes=log.file.max_bytes,
        rotate_every_s=_ROTATE_EVERY_S[log.file.rotate_every],
        retention_s=log.file.retention_days * _S_PER_DAY,
        secrets=secrets,
    )
