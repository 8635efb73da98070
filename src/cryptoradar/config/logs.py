"""Optional log file with rotation by size and by time, and bounded retention."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from cryptoradar.config.base import Section


class LogFileConfig(Section):
    path: Path | None = None
    """JSON-lines log file; None logs to stderr only."""
    max_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)
    """Rotate when the file would grow past this size."""
    rotate_every: Literal["hour", "day"] = "day"
    """Also rotate at the start of every hour or day (UTC), whatever the size."""
    retention_days: float = Field(default=7.0, gt=0)
    """Rotated files older than this are deleted."""
