"""Optional log file with rotation by size and by time, and bounded retention."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

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

    @field_validator("path")
    @classmethod
    def _writable(cls, path: Path | None) -> Path | None:
        # Checked here so `config check` (and start) say so in one line instead of the handler's traceback.
        if path is None:
            return None
        folder = path.parent
        if not folder.is_dir():
            problem = f"folder {folder} does not exist"
        elif path.is_dir():
            problem = "it is a folder"
        elif not os.access(path if path.exists() else folder, os.W_OK):
            problem = f"no write permission on {path if path.exists() else folder}"
        else:
            return path
        raise ValueError(f"log.file.path: cannot write {path} ({problem}); create it or choose another path")
