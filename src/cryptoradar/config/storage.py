"""Where state lives: one SQLite file (default) or a PostgreSQL database shared by several instances."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field, SecretStr, model_validator

from cryptoradar.config.base import Section, require_at_most


class StorageBackend(StrEnum):
    SQLITE = "sqlite"
    POSTGRES = "postgres"


class StorageConfig(Section):
    backend: StorageBackend = StorageBackend.SQLITE
    sqlite_path: Path = Path("var/cryptoradar.db")
    postgres_dsn: SecretStr = SecretStr("")
    """`postgresql://user:password@host:5432/db`; a secret because it usually carries the password.
    Write it as `${CRYPTORADAR_POSTGRES_DSN}` in the YAML file."""
    postgres_pool_min_size: int = Field(default=1, ge=0)
    postgres_pool_max_size: int = Field(default=10, gt=0)
    postgres_connect_timeout_s: float = Field(default=10.0, gt=0)
    postgres_command_timeout_s: float = Field(default=30.0, gt=0)
    """A statement running longer fails (and counts as a store error) instead of stalling the outbox."""

    @model_validator(mode="after")
    def _postgres_complete(self) -> StorageConfig:
        if self.backend is StorageBackend.POSTGRES and not self.postgres_dsn.get_secret_value():
            raise ValueError(
                "storage.backend is 'postgres' but storage.postgres_dsn is empty; set it, for example "
                "postgres_dsn: ${CRYPTORADAR_POSTGRES_DSN}, or use backend: sqlite"
            )
        require_at_most(
            "storage.postgres_pool_min_size",
            self.postgres_pool_min_size,
            "postgres_pool_max_size",
            self.postgres_pool_max_size,
        )
        return self
