"""Telegram Bot API sink: `sendMessage` with `parse_mode=HTML`, several alerts per message as a digest.

Who escapes what: `RenderedAlert.body` arrives as trusted, already-escaped Telegram HTML from the
pipeline's template; this sink escapes (`html.escape`) the title itself. `fields` are not sent: the body carries them.

Size: Telegram's 4096 limit applies to the *visible* text after entity parsing; this sink measures that
(text outside tags, entities decoded) in UTF-16 code units, which is how Telegram counts offsets and never
less than the code-point count. An alert too long on its own is sent as escaped plain text truncated at a
word boundary, so a cut never lands inside a tag or an entity.

Errors: 429 carries `parameters.retry_after` (RetryableError); a group upgraded to a supergroup
(`parameters.migrate_to_chat_id`) is followed once when `follow_migration` is set, else logged and
permanent; "can't parse entities" is retried once as plain text; other 4xx are permanent; 5xx and
transport errors are retryable.
"""

from __future__ import annotations

import html
from html.parser import HTMLParser

import aiohttp
import msgspec
import structlog
from pydantic import SecretStr

from cryptoradar.core.errors import PermanentError, RetryableError
from cryptoradar.notifications import Notification, RenderedAlert
from cryptoradar.sinks._http import HttpPoster, HttpReply
from cryptoradar.sinks._limits import pack_greedy, truncate_text

TEXT_UNITS_MAX = 4096
ALERT_SEPARATOR = "\n\n"
DEFAULT_API_BASE_URL = "https://api.telegram.org"

_log = structlog.get_logger(__name__)


class _VisibleText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def visible_text(markup: str) -> str:
    """The text a reader sees for Telegram HTML `markup` (tags removed, entities decoded)."""
    parser = _VisibleText()
    parser.feed(markup)
    parser.close()
    return "".join(parser.parts)


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def render_alert(alert: RenderedAlert, max_units: int = TEXT_UNITS_MAX) -> str:
    """One alert as Telegram HTML whose visible text fits `max_units`."""
    title = f"<b>{html.escape(alert.title, quote=False)}</b>" if alert.title.strip() else ""
    # The body already carries every value; `fields` are for structured channels (webhook, log).
    markup = "\n".join(line for line in (title, alert.body) if line)
    plain = visible_text(markup)
    if utf16_units(plain) <= max_units:
        return markup
    # Code points <= UTF-16 units, so shrink until the UTF-16 count fits.
    limit = max_units
    while utf16_units(truncated := truncate_text(plain, limit)) > max_units:
        limit -= utf16_units(truncated) - max_units
    return html.escape(truncated, quote=False)


class _ResponseParameters(msgspec.Struct):
    retry_after: float | None = None
    migrate_to_chat_id: int | None = None


class _ApiReply(msgspec.Struct):
    ok: bool = False
    error_code: int = 0
    description: str = ""
    parameters: _ResponseParameters = msgspec.field(default_factory=_ResponseParameters)


class _LinkPreviewOptions(msgspec.Struct, frozen=True):
    is_disabled: bool = True


class _SendMessage(msgspec.Struct, frozen=True, omit_defaults=True):
    chat_id: str
    text: str
    parse_mode: str | None = None
    link_preview_options: _LinkPreviewOptions = _LinkPreviewOptions()


class TelegramSink:
    """Sends digests to one chat through the Bot API at `api_base_url` (a local Bot API server or a fake
    in tests)."""

    def __init__(
        self,
        bot_token: SecretStr,
        chat_id: str,
        api_base_url: str = DEFAULT_API_BASE_URL,
        session: aiohttp.ClientSession | None = None,
        *,
        name: str = "telegram",
        follow_migration: bool = False,
        timeout_s: float = 10.0,
    ) -> None:
        self.name = name
        self.chat_id = chat_id
        self._url = f"{api_base_url.rstrip('/')}/bot{bot_token.get_secret_value()}/sendMessage"
        self._follow_migration = follow_migration
        self._http = HttpPoster(name, session, timeout_s)

    def pack(self, alerts: list[RenderedAlert]) -> list[Notification]:
        return pack_greedy(
            self.name,
            alerts,
            lambda alert: utf16_units(visible_text(render_alert(alert))),
            TEXT_UNITS_MAX,
            separator_cost=utf16_units(ALERT_SEPARATOR),
        )

    async def send(self, notification: Notification) -> None:
        if not notification.alerts:
            return
        markup = ALERT_SEPARATOR.join(render_alert(alert) for alert in notification.alerts)
        request = _SendMessage(chat_id=self.chat_id, text=markup, parse_mode="HTML")
        reply, api = await self._call(request)
        if api.parameters.migrate_to_chat_id is not None and self._follow_migration:
            new_chat_id = str(api.parameters.migrate_to_chat_id)
            _log.warning("telegram_chat_migrated", old_chat_id=self.chat_id, new_chat_id=new_chat_id)
            self.chat_id = new_chat_id
            reply, api = await self._call(msgspec.structs.replace(request, chat_id=new_chat_id))
        elif reply.status == 400 and "can't parse entities" in api.description:
            _log.warning("telegram_html_rejected_sending_plain", description=api.description)
            reply, api = await self._call(_SendMessage(chat_id=self.chat_id, text=visible_text(markup)))
        if not (reply.status == 200 and api.ok):
            raise self._classify(reply, api)

    async def _call(self, request: _SendMessage) -> tuple[HttpReply, _ApiReply]:
        reply = await self._http.post(
            self._url, msgspec.json.encode(request), {"Content-Type": "application/json"}
        )
        try:
            api = msgspec.json.decode(reply.body, type=_ApiReply)
        except msgspec.DecodeError:
            api = _ApiReply(error_code=reply.status, description="non-JSON reply")
        return reply, api

    def _classify(self, reply: HttpReply, api: _ApiReply) -> RetryableError | PermanentError:
        status = api.error_code or reply.status
        detail = f"{status} {api.description}".strip()
        if status == 429:
            return RetryableError(f"telegram: rate limited ({detail})", api.parameters.retry_after)
        if status >= 500:
            return RetryableError(f"telegram: server error ({detail})", api.parameters.retry_after)
        if api.parameters.migrate_to_chat_id is not None:
            _log.warning(
                "telegram_chat_migrated_not_followed",
                old_chat_id=self.chat_id,
                new_chat_id=api.parameters.migrate_to_chat_id,
            )
            return PermanentError(
                f"telegram: chat {self.chat_id} became supergroup {api.parameters.migrate_to_chat_id};"
                " set chat_id to the new id"
            )
        if status == 401:
            return PermanentError(f"telegram: bot token rejected ({detail})")
        if status == 403:
            return PermanentError(f"telegram: bot cannot post to chat {self.chat_id} ({detail})")
        return PermanentError(f"telegram: request rejected ({detail})")

    async def close(self) -> None:
        await self._http.close()
