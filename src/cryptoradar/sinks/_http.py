"""HTTP plumbing shared by the HTTP sinks: a borrowed-or-owned session, redacted transport errors,
`Retry-After` parsing and tolerant JSON decoding.

Secrets: webhook URLs and bot tokens are secrets. aiohttp puts the full request URL into some of its
exception texts (for example a connect timeout), so transport exceptions are mapped to `RetryableError`
with only their type name and are deliberately *not* chained (`from None`): chaining would print the
URL in any logged traceback.
"""

from __future__ import annotations

import email.utils
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp
import msgspec
from multidict import CIMultiDict

from cryptoradar.core.errors import PermanentError, RetryableError

USER_AGENT = "cryptoradar/0.1 (+https://github.com/cryptoradar)"


@dataclass(frozen=True, slots=True)
class HttpReply:
    """A fully read HTTP response."""

    status: int
    headers: CIMultiDict[str]
    body: bytes

    def json(self) -> object:
        """The body decoded as JSON, or None when it is not JSON (a proxy's HTML error page, say)."""
        try:
            return msgspec.json.decode(self.body)
        except msgspec.DecodeError:
            return None

    def header_float(self, name: str) -> float | None:
        value = self.headers.get(name)
        if value is None:
            return None
        try:
            return float(value)
        except ValueError:
            return None


class HttpPoster:
    """POSTs bodies for one channel over a session it either borrows (`session`) or owns (created lazily,
    inside the running loop, and closed by `close()`)."""

    def __init__(self, channel: str, session: aiohttp.ClientSession | None, timeout_s: float) -> None:
        self._channel = channel
        self._session = session
        self._owns_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> HttpReply:
        """Send and read the reply; any status is returned, transport failures raise (see module doc)."""
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            async with self._session.post(
                url,
                data=body,
                headers={"User-Agent": USER_AGENT, **headers},
                timeout=self._timeout,
                allow_redirects=False,
            ) as response:
                payload = await response.read()
                return HttpReply(response.status, CIMultiDict(response.headers), payload)
        except aiohttp.InvalidURL:
            raise PermanentError(f"{self._channel}: the configured URL is invalid (redacted)") from None
        except (aiohttp.ClientError, TimeoutError) as e:
            raise RetryableError(f"{self._channel}: transport error ({type(e).__name__})") from None

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None


def parse_retry_after_s(value: str | None, now_ns: int) -> float | None:
    """`Retry-After` as seconds from now: delta-seconds or an HTTP-date; None when absent or malformed."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now_ns / 1e9)
