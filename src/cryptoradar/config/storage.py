"""Where state lives."""

from __future__ import annotations

from pathlib import Path

from cryptoradar.config.base import Section


class StorageConfig(Section):
    sqlite_path: Path = Path("var/cryptoradar.db")
