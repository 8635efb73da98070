"""FakeTelegram: the Bot API's `sendMessage` on loopback.

`POST /bot<token>/sendMessage` (JSON or form) answers with the real envelope
`{"ok": ..., "error_code", "description", "parameters"}`: 401 Unauthorized for an unknown token, 400
chat not found, 403 bot blocked, 400 + `migrate_to_chat_id` for an upgraded group, 400 can't parse
entities (HTML parse_mode is parsed strictly with html.parser: only Telegram's tags, only `&lt; &gt; &amp;
&quot;` and numeric entities, no raw `<`, `>` or `&`), 400 message is too long (visible text over 4096
UTF-16 units), 429 with `parameters.retry_after` when a chat sends more than `per_chat_limit` messages
per `per_chat_window_s` (default 1/s) or a group more than 20 per minute. Accepted messages are recorded
with their visible text and the tags used; rate-limit violations are counted server-side.
"""

from __future__ import annotations

import itertools
import math
import time
from collections import deque
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from aiohttp import web

from fakes._server import LoopbackServer, ServedFake

TEXT_MAX_UTF16 = 4096
GROUP_LIMIT = 20
GROUP_WINDOW_S = 60.0
ALLOWED_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "a",
        "code",
        "pre",
        "blockquote",
        "tg-emoji",
    }
)
NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


class EntityParseError(ValueError):
    pass


class TelegramHtml(HTMLParser):
    """Telegram's HTML parse_mode, strictly: raises EntityParseError where Telegram answers 400."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.visible: list[str] = []
        self.tags: list[str] = []
        self._open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            raise EntityParseError(f'Unsupported start tag "{tag}"')
        self._open.append(tag)
        self.tags.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        raise EntityParseError(f'Unsupported start tag "{tag}"')

    def handle_endtag(self, tag: str) -> None:
        if not self._open or self._open[-1] != tag:
            raise EntityParseError(f'Unmatched end tag "{tag}"')
        self._open.pop()

    def handle_data(self, data: str) -> None:
        for ch in "<>&":
            if ch in data:
                raise EntityParseError(f"raw {ch!r} outside a tag or entity")
        self.visible.append(data)

    def handle_entityref(self, name: str) -> None:
        if name not in NAMED_ENTITIES:
            raise EntityParseError(f'Unsupported HTML entity "&{name};"')
        self.visible.append(NAMED_ENTITIES[name])

    def handle_charref(self, name: str) -> None:
        self.visible.append(chr(int(name[1:], 16) if name[:1] in "xX" else int(name)))

    def handle_comment(self, data: str) -> None:
        raise EntityParseError("comments are not supported")

    def handle_decl(self, decl: str) -> None:
        raise EntityParseError("declarations are not supported")

    def handle_pi(self, data: str) -> None:
        raise EntityParseError("processing instructions are not supported")

    def finish(self) -> str:
        self.close()
        if self.rawdata:
            raise EntityParseError("unterminated tag or entity at the end")
        if self._open:
            raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{self._open[-1]}"')
        return "".join(self.visible)


def parse_html(text: str) -> tuple[str, list[str]]:
    """(visible text, tags used) or EntityParseError."""
    parser = TelegramHtml()
    parser.feed(text)
    return parser.finish(), parser.tags


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass
class ReceivedTelegramMessage:
    chat_id: str
    text: str
    parse_mode: str | None
    visible_text: str
    tags: list[str]


@dataclass
class _Chat:
    group: bool
    blocked: bool = False
    migrated_to: int | None = None
    sent_at_s: deque[float] = field(default_factory=deque)


def _reply(status: int, description: str, **parameters: int) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=status)


class FakeTelegram(ServedFake):
    """`async with FakeTelegram() as fake: fake.add_bot(token); fake.add_chat("42")`;
    point the client at `fake.api_base_url`."""

    def __init__(self, per_chat_limit: int = 1, per_chat_window_s: float = 1.0) -> None:
        self.per_chat_limit = per_chat_limit
        self.per_chat_window_s = per_chat_window_s
        self.messages: list[ReceivedTelegramMessage] = []
        self.requests = 0
        self.arrivals_s: list[float] = []
        """`time.monotonic()` at each request's arrival, in order."""
        self.rate_limit_violations = 0
        self._tokens: set[str] = set()
        self._chats: dict[str, _Chat] = {}
        self._server_errors: list[int] = []
        self._forced_429_s: list[int] = []
        self._message_ids = itertools.count(1)
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._handle)
        self._server = LoopbackServer(app)

    @property
    def api_base_url(self) -> str:
        return self._server.base_url

    def add_bot(self, token: str) -> None:
        self._tokens.add(token)

    def revoke_bot(self, token: str) -> None:
        self._tokens.discard(token)

    def add_chat(self, chat_id: str, *, group: bool | None = None) -> None:
        self._chats[chat_id] = _Chat(group=chat_id.startswith("-") if group is None else group)

    def remove_chat(self, chat_id: str) -> None:
        del self._chats[chat_id]

    def block_bot(self, chat_id: str) -> None:
        self._chats[chat_id].blocked = True

    def migrate_chat(self, chat_id: str, new_chat_id: int) -> None:
        """The group was upgraded to a supergroup: the old id answers 400 + migrate_to_chat_id."""
        self._chats[chat_id].migrated_to = new_chat_id
        self.add_chat(str(new_chat_id), group=True)

    def inject_server_errors(self, count: int, status: int = 502) -> None:
        self._server_errors += [status] * count

    def inject_rate_limit(self, retry_after_s: int) -> None:
        self._forced_429_s.append(retry_after_s)

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        self.arrivals_s.append(time.monotonic())
        if request.match_info["token"] not in self._tokens:
            return _reply(401, "Unauthorized")
        if request.match_info["method"] != "sendMessage":
            return _reply(404, "Not Found")
        if self._server_errors:
            return _reply(self._server_errors.pop(0), "Internal Server Error")
        if self._forced_429_s:
            seconds = self._forced_429_s.pop(0)
            return _reply(429, f"Too Many Requests: retry after {seconds}", retry_after=seconds)
        if request.content_type == "application/json":
            params: dict[str, Any] = await request.json()
        else:
            params = dict(await request.post())
        chat_id = str(params.get("chat_id", ""))
        chat = self._chats.get(chat_id)
        if chat is None:
            return _reply(400, "Bad Request: chat not found")
        if chat.blocked:
            return _reply(403, "Forbidden: bot was blocked by the user")
        if chat.migrated_to is not None:
            return _reply(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                migrate_to_chat_id=chat.migrated_to,
            )
        retry_after_s = self._rate_limit(chat)
        if retry_after_s is not None:
            self.rate_limit_violations += 1
            return _reply(429, f"Too Many Requests: retry after {retry_after_s}", retry_after=retry_after_s)
        return self._send_message(chat_id, chat, params)

    def _send_message(self, chat_id: str, chat: _Chat, params: dict[str, Any]) -> web.Response:
        text = str(params.get("text") or "")
        parse_mode = params.get("parse_mode")
        if not text.strip():
            return _reply(400, "Bad Request: message text is empty")
        visible, tags = text, list[str]()
        if parse_mode == "HTML":
            try:
                visible, tags = parse_html(text)
            except EntityParseError as e:
                return _reply(400, f"Bad Request: can't parse entities: {e}")
        elif parse_mode is not None:
            return _reply(400, f"Bad Request: unsupported parse_mode {parse_mode!r} in this fake")
        if utf16_len(visible) > TEXT_MAX_UTF16:
            return _reply(400, "Bad Request: message is too long")
        self.messages.append(ReceivedTelegramMessage(chat_id, text, parse_mode, visible, tags))
        chat.sent_at_s.append(time.monotonic())  # flood control counts delivered messages only
        result = {
            "message_id": next(self._message_ids),
            "chat": {"id": chat_id},
            "date": int(time.time()),
            "text": visible,
        }
        return web.json_response({"ok": True, "result": result})

    def _rate_limit(self, chat: _Chat) -> int | None:
        """Seconds to wait, or None when the chat may receive a message now."""
        now_s = time.monotonic()
        window_s = max(self.per_chat_window_s, GROUP_WINDOW_S if chat.group else 0.0)
        while chat.sent_at_s and now_s - chat.sent_at_s[0] >= window_s:
            chat.sent_at_s.popleft()
        recent = [t for t in chat.sent_at_s if now_s - t < self.per_chat_window_s]
        waits: list[float] = []
        if len(recent) >= self.per_chat_limit:
            waits.append(recent[-self.per_chat_limit] + self.per_chat_window_s - now_s)
        if chat.group and len(chat.sent_at_s) >= GROUP_LIMIT:
            waits.append(chat.sent_at_s[-GROUP_LIMIT] + GROUP_WINDOW_S - now_s)
        if waits:
            return max(1, math.ceil(max(waits)))
        return None
