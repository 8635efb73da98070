"""The HTTP server: health, metrics, API, dashboard."""

from __future__ import annotations

from pydantic import Field, SecretStr

from cryptoradar.config.base import Section


class ApiConfig(Section):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8765, ge=0, le=65535)
    token: SecretStr = SecretStr("")
    """Bearer token; required when `host` is not a loopback address."""
