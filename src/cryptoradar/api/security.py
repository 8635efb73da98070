"""Access rules of the HTTP server and the last line of defence against leaking secrets.

- Bound to a loopback address, the API may run without a token; bound anywhere else it refuses to start
  without `api.token`. When a token is configured, every route except /healthz and the static dashboard
  shell requires `Authorization: Bearer <token>`, compared in constant time.
- `SecretScrubber` replaces every configured secret value in response bodies, so even a secret that slipped
  into an error text or a label never leaves the process.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from pydantic import BaseModel, SecretBytes, SecretStr

from cryptoradar.config.api import is_loopback, requires_token
from cryptoradar.core.errors import ConfigError
from cryptoradar.core.logging import REDACTED as REDACTED_TEXT
from cryptoradar.core.logging import secret_forms

__all__ = [
    "REDACTED",
    "SecretScrubber",
    "bearer_matches",
    "check_bind",
    "is_loopback",
    "requires_token",
    "secret_values",
]

REDACTED = REDACTED_TEXT.encode()


def check_bind(host: str, token: SecretStr) -> None:
    """Raises ConfigError when `host` is exposed and no token is configured (the config model already
    refuses that at load time; this guards configs built in code with `model_construct`)."""
    if requires_token(host) and not token.get_secret_value():
        raise ConfigError(
            f"api.host={host!r} is not a loopback address, so api.token is required: set api.token "
            "(for example api.token: ${CRYPTORADAR_API_TOKEN}) or bind api.host to 127.0.0.1"
        )


def bearer_matches(authorization: str | None, token: SecretStr) -> bool:
    """Constant-time check of an `Authorization: Bearer ...` header against the configured token."""
    expected = token.get_secret_value().encode()
    if not authorization or not authorization.startswith("Bearer "):
        return False
    return hmac.compare_digest(authorization[len("Bearer ") :].strip().encode(), expected)


def secret_values(model: BaseModel) -> list[str]:
    """Every non-empty SecretStr/SecretBytes value anywhere inside `model` (nested models, lists, dicts)."""
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, SecretStr):
            found.append(node.get_secret_value())
        elif isinstance(node, SecretBytes):
            found.append(node.get_secret_value().decode(errors="replace"))
        elif isinstance(node, BaseModel):
            for name in type(node).model_fields:
                walk(getattr(node, name))
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list | tuple | set | frozenset):
            for value in node:
                walk(value)

    walk(model)
    return [value for value in found if value]


class SecretScrubber:
    """Replaces known secret values in outgoing bytes."""

    def __init__(self, secrets: Iterable[str]) -> None:
        # Every rewritten form too (encoded, scheme-less, URL pieces), longest first.
        self._secrets = [s.encode() for s in secret_forms(secrets)]

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def scrub(self, body: bytes) -> bytes:
        for secret in self._secrets:
            if secret in body:
                body = body.replace(secret, REDACTED)
        return body
