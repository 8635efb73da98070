"""The HTTP server: health, metrics, API, dashboard."""

from __future__ import annotations

import ipaddress

from pydantic import Field, SecretStr, ValidationInfo, field_validator

from cryptoradar.config.base import Section


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a hostname could resolve anywhere: treat it as exposed


def requires_token(host: str) -> bool:
    """True when binding `host` exposes the API beyond this machine ("" and 0.0.0.0 mean every interface)."""
    return not is_loopback(host)


class ApiConfig(Section):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8765, ge=0, le=65535)
    token: SecretStr = Field(default=SecretStr(""), validate_default=True)
    """Bearer token; required when `host` is not a loopback address."""
    stale_after_intervals: float = Field(default=2.0, gt=1.0)
    """A symbol is stale (and /readyz fails) when its newest bar is older than this many intervals."""
    page_size_max: int = Field(default=500, ge=1, le=10_000)
    """Upper bound of `limit` on paginated endpoints."""
    bars_max: int = Field(default=1000, ge=1, le=10_000)
    """Upper bound of `limit` on /api/bars."""
    sse_queue_size: int = Field(default=256, ge=1)
    """Per-subscriber buffer of the live event stream; a slow client loses its oldest events."""
    sse_heartbeat_s: float = Field(default=15.0, gt=0)
    """Comment frames keep idle SSE connections open through proxies."""
    loop_lag_interval_s: float = Field(default=0.5, gt=0)
    """How often the event-loop lag monitor samples."""

    @field_validator("token")
    @classmethod
    def _token_when_exposed(cls, token: SecretStr, info: ValidationInfo) -> SecretStr:
        host = info.data.get("host")
        if isinstance(host, str) and requires_token(host) and not token.get_secret_value():
            raise ValueError(
                f"api.host={host!r} is not a loopback address, so api.token is required: set api.token "
                "(for example api.token: ${CRYPTORADAR_API_TOKEN}) or bind api.host to 127.0.0.1"
            )
        return token
