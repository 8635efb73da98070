"""FakeDiscord: Discord's execute-webhook endpoint on loopback.

Behaves like the real one where our sink depends on it: `POST /api/webhooks/{id}/{token}[?wait=true]`,
payload limits checked (400 with Discord's error JSON: 50035 Invalid Form Body, 50006 empty message,
50109 bad JSON), a per-webhook rate-limit bucket (default 5 per 2 s, fixed window) with the real
`X-RateLimit-*` headers and the 429 JSON body `{"message", "retry_after", "global"}`, 404 10015 for an
unknown or deleted webhook, 401 50027 for a wrong token. Every accepted message is recorded; rate-limit
violations are counted server-side. Failures can be injected: 5xx bursts, any JSON error, an exact 429,
deletion (404), token revocation (401) and 403.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from fakes._server import LoopbackServer, ServedFake

CONTENT_MAX = 2000
EMBEDS_MAX = 10
EMBED_TOTAL_MAX = 6000
FIELDS_MAX = 25
TEXT_LIMITS = {"title": 256, "description": 4096}
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FOOTER_MAX = 2048
AUTHOR_NAME_MAX = 256


@dataclass
class ReceivedDiscordMessage:
    webhook_id: str
    payload: dict[str, Any]
    wait: bool
    would_ping: bool
    """True when content mentions @everyone/@here and allowed_mentions would let it ping."""


@dataclass
class _Bucket:
    window_start_s: float = -math.inf
    used: int = 0


@dataclass
class _Webhook:
    token: str
    bucket: _Bucket = field(default_factory=_Bucket)
    deleted: bool = False


def _error(status: int, code: int, message: str, errors: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"message": message, "code": code}
    if errors is not None:
        body["errors"] = errors
    return web.json_response(body, status=status)


def validate_message(payload: object) -> dict[str, str]:
    """Discord's limits; returns {field path: problem}, empty when valid."""
    if not isinstance(payload, dict):
        return {"_root": "body must be a JSON object"}
    problems: dict[str, str] = {}
    content = payload.get("content") or ""
    embeds = payload.get("embeds") or []
    if len(content) > CONTENT_MAX:
        problems["content"] = f"Must be {CONTENT_MAX} or fewer in length."
    username = payload.get("username")
    if username is not None and not 1 <= len(username) <= 80:
        problems["username"] = "Must be between 1 and 80 in length."
    if len(embeds) > EMBEDS_MAX:
        problems["embeds"] = f"Must be {EMBEDS_MAX} or fewer in length."
    total = 0
    for i, embed in enumerate(embeds):
        for key, limit in TEXT_LIMITS.items():
            text = (embed.get(key) or "").strip()
            total += len(text)
            if len(text) > limit:
                problems[f"embeds.{i}.{key}"] = f"Must be {limit} or fewer in length."
        fields = embed.get("fields") or []
        if len(fields) > FIELDS_MAX:
            problems[f"embeds.{i}.fields"] = f"Must be {FIELDS_MAX} or fewer in length."
        for j, f in enumerate(fields):
            name, value = (f.get("name") or "").strip(), (f.get("value") or "").strip()
            total += len(name) + len(value)
            if not name or len(name) > FIELD_NAME_MAX:
                problems[f"embeds.{i}.fields.{j}.name"] = f"Must be between 1 and {FIELD_NAME_MAX}."
            if not value or len(value) > FIELD_VALUE_MAX:
                problems[f"embeds.{i}.fields.{j}.value"] = f"Must be between 1 and {FIELD_VALUE_MAX}."
        footer = ((embed.get("footer") or {}).get("text") or "").strip()
        author = ((embed.get("author") or {}).get("name") or "").strip()
        total += len(footer) + len(author)
        if len(footer) > FOOTER_MAX:
            problems[f"embeds.{i}.footer.text"] = f"Must be {FOOTER_MAX} or fewer in length."
        if len(author) > AUTHOR_NAME_MAX:
            problems[f"embeds.{i}.author.name"] = f"Must be {AUTHOR_NAME_MAX} or fewer in length."
    if total > EMBED_TOTAL_MAX:
        problems["embeds"] = f"Embed size exceeds maximum size of {EMBED_TOTAL_MAX}"
    return problems


def _would_ping(payload: dict[str, Any]) -> bool:
    content = payload.get("content") or ""
    if "@everyone" not in content and "@here" not in content:
        return False
    allowed = payload.get("allowed_mentions")
    return allowed is None or "everyone" in (allowed.get("parse") or [])


class FakeDiscord(ServedFake):
    """`async with FakeDiscord() as fake: url = fake.add_webhook()`."""

    def __init__(self, bucket_limit: int = 5, bucket_window_s: float = 2.0) -> None:
        self.bucket_limit = bucket_limit
        self.bucket_window_s = bucket_window_s
        self.messages: list[ReceivedDiscordMessage] = []
        self.requests = 0
        self.arrivals_s: list[float] = []
        """`time.monotonic()` at each request's arrival, in order."""
        self.rate_limit_violations = 0
        self.last_retry_after_s: float | None = None
        self._webhooks: dict[str, _Webhook] = {}
        self._ids = itertools.count(1_100_000_000_000_000_000)
        self._injected: list[tuple[int, int, str]] = []
        self._forced_429_s: list[float] = []
        self._forbidden = False
        app = web.Application()
        app.router.add_post("/api/webhooks/{webhook_id}/{token}", self._execute)
        self._server = LoopbackServer(app)

    def add_webhook(self, token: str = "fake-webhook-token") -> str:
        """Create a webhook; returns its execute URL (the secret)."""
        webhook_id = str(next(self._ids))
        self._webhooks[webhook_id] = _Webhook(token=token)
        return f"{self._server.base_url}/api/webhooks/{webhook_id}/{token}"

    def delete_webhook(self, url: str) -> None:
        self._webhooks[url.rstrip("/").split("/")[-2]].deleted = True

    def revoke_token(self, url: str) -> None:
        self._webhooks[url.rstrip("/").split("/")[-2]].token = "revoked"

    def inject_error(self, status: int, code: int = 0, message: str = "", count: int = 1) -> None:
        """The next `count` requests get `status`: Discord's JSON error when `code` is set, else a text
        body (what a 5xx from the edge looks like)."""
        self._injected += [(status, code, message)] * count

    def inject_server_errors(self, count: int, status: int = 502) -> None:
        self.inject_error(status, count=count)

    def inject_rate_limit(self, retry_after_s: float) -> None:
        """The next request gets a 429 with exactly this `retry_after`."""
        self._forced_429_s.append(retry_after_s)

    def forbid(self) -> None:
        """Every later request gets 403 (e.g. missing permissions / Cloudflare block)."""
        self._forbidden = True

    async def _execute(self, request: web.Request) -> web.Response:
        self.requests += 1
        self.arrivals_s.append(time.monotonic())
        webhook = self._webhooks.get(request.match_info["webhook_id"])
        if webhook is None or webhook.deleted:
            return _error(404, 10015, "Unknown Webhook")
        if request.match_info["token"] != webhook.token:
            return _error(401, 50027, "Invalid Webhook Token")
        if self._forbidden:
            return _error(403, 50013, "Missing Permissions")
        if self._injected:
            status, code, message = self._injected.pop(0)
            if code:
                return _error(status, code, message)
            return web.Response(status=status, text="upstream error")
        if self._forced_429_s:
            return self._rate_limited(self._forced_429_s.pop(0), request.match_info["webhook_id"])
        headers = self._take_token(webhook.bucket, request.match_info["webhook_id"])
        if headers is None:
            self.rate_limit_violations += 1
            bucket = webhook.bucket
            wait_s = bucket.window_start_s + self.bucket_window_s - time.monotonic()
            return self._rate_limited(
                max(math.ceil(wait_s * 1000) / 1000, 0.001), request.match_info["webhook_id"]
            )
        try:
            payload = await request.json()
        except ValueError:
            return _error(400, 50109, "The request body contains invalid JSON.")
        problems = validate_message(payload)
        if problems:
            errors = {
                path: {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": msg}]}
                for path, msg in problems.items()
            }
            return _error(400, 50035, "Invalid Form Body", errors)
        if not payload.get("content") and not payload.get("embeds"):
            return _error(400, 50006, "Cannot send an empty message")
        wait = request.query.get("wait", "false").lower() == "true"
        message_id = str(next(self._ids))
        self.messages.append(
            ReceivedDiscordMessage(request.match_info["webhook_id"], payload, wait, _would_ping(payload))
        )
        if not wait:
            return web.Response(status=204, headers=headers)
        body = {"id": message_id, "webhook_id": request.match_info["webhook_id"], **payload}
        return web.json_response(body, headers=headers)

    def _take_token(self, bucket: _Bucket, webhook_id: str) -> dict[str, str] | None:
        now_s = time.monotonic()
        if now_s - bucket.window_start_s >= self.bucket_window_s:
            bucket.window_start_s, bucket.used = now_s, 0
        if bucket.used >= self.bucket_limit:
            return None
        bucket.used += 1
        # Rounded up to the millisecond, so a client that waits exactly this long is never early.
        reset_after_s = math.ceil((bucket.window_start_s + self.bucket_window_s - now_s) * 1000) / 1000
        return {
            "X-RateLimit-Limit": str(self.bucket_limit),
            "X-RateLimit-Remaining": str(self.bucket_limit - bucket.used),
            "X-RateLimit-Reset": f"{time.time() + reset_after_s:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after_s:.3f}",
            "X-RateLimit-Bucket": f"fake-{webhook_id}",
        }

    def _rate_limited(self, retry_after_s: float, webhook_id: str) -> web.Response:
        self.last_retry_after_s = retry_after_s
        headers = {
            "Retry-After": str(math.ceil(retry_after_s)),
            "X-RateLimit-Limit": str(self.bucket_limit),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset-After": f"{retry_after_s:.3f}",
            "X-RateLimit-Bucket": f"fake-{webhook_id}",
            "X-RateLimit-Scope": "user",
        }
        body = {"message": "You are being rate limited.", "retry_after": retry_after_s, "global": False}
        return web.json_response(body, status=429, headers=headers)
