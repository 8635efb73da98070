"""The exception tree, documented once.

Errors are classified at the boundary where they happen and mapped with `raise ... from e`:

- `ConfigError`: the configuration is wrong; the message names the key, the bad value and the fix.
- `RetryableError`: try again later; `retry_after_s` says when if the remote told us.
- `PermanentError`: retrying will not help (bad credentials, deleted webhook, banned IP).
- `StartupError`: a command cannot start or go on (a port taken, a file or database it cannot open, a host
  it never reached); the message names the port, path or host and the fix. The CLI prints it as one line.

Messages never contain secrets: callers pass redacted values only.
"""

from __future__ import annotations


class CryptoradarError(Exception):
    """Base of every error raised on purpose by cryptoradar."""


class ConfigError(CryptoradarError):
    """Invalid configuration; raised at load time."""


class RetryableError(CryptoradarError):
    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class PermanentError(CryptoradarError):
    """The operation can never succeed as configured."""


class StartupError(CryptoradarError):
    """What a command needs is not there; the message names it (port, path, host) and the fix."""
