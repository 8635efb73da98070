"""Email sink over SMTP (aiosmtplib): one multipart/alternative message per notification (a digest).

Transport security is chosen explicitly, never opportunistically: `tls` is implicit TLS from the first
byte (port 465), `starttls` requires the upgrade (port 587) and fails if the server does not offer it,
`none` is plain SMTP and refuses credentials (AUTH is never sent in clear text).

Who escapes what: `RenderedAlert.body` is taken as plain text (the text part); `body_html`, when set, is the
pipeline's already-escaped HTML for the HTML part. Titles and a plain `body` used in the
HTML part are escaped here; `fields` are not sent (the body carries them).

Errors: a 5yz reply (535 bad credentials, 550 rejected, ...) is permanent at once; 4yz replies, timeouts
and connection failures are retried up to `attempts` times `retry_delay_s` apart, then raised as
`RetryableError`. Each attempt as a whole (connect, TLS, every command) ends after `timeout_s`, so a send
takes at most `retry_budget_s`, which the channel's `send_timeout_s` covers (`config.alerts.EmailChannel`). The Message-ID is derived from the alert ids, so a resent digest can be deduplicated.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formataddr, formatdate, parseaddr
from enum import StrEnum

import aiosmtplib
import structlog
from pydantic import SecretStr

from cryptoradar.core.clock import Clock, SystemClock
from cryptoradar.core.errors import ConfigError, PermanentError, RetryableError
from cryptoradar.notifications import Notification, RenderedAlert
from cryptoradar.sinks._limits import pack_greedy, truncate_text

SUBJECT_MAX = 200
_log = structlog.get_logger(__name__)


class SmtpSecurity(StrEnum):
    STARTTLS = "starttls"
    TLS = "tls"
    NONE = "none"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def build_message(
    alerts: Sequence[RenderedAlert], sender: str, recipients: Sequence[str], now_ns: int
) -> EmailMessage:
    """The MIME message for a digest of `alerts`: plain text first, HTML last (clients show the last
    part they can render)."""
    worst = max(alerts, key=lambda a: a.severity.rank)
    first_title = _one_line(alerts[0].title)
    topic = first_title if len(alerts) == 1 else f"{len(alerts)} alerts: {first_title}"
    sender_domain = parseaddr(sender)[1].rpartition("@")[2] or "cryptoradar.invalid"
    ids = "-".join(str(a.alert_id) for a in alerts)
    message = EmailMessage()
    message["Subject"] = truncate_text(f"[{worst.severity.upper()}] {topic}", SUBJECT_MAX)
    message["From"] = sender if "<" in sender else formataddr(("cryptoradar", sender))
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(now_ns / 1e9, usegmt=True)
    message["Message-ID"] = f"<{hashlib.sha256(ids.encode()).hexdigest()[:32]}@{sender_domain}>"
    message["X-Cryptoradar-Alert-Ids"] = truncate_text(ids, 900)
    message.set_content("\n\n".join(_text_block(a) for a in alerts))
    html_blocks = "\n".join(_html_block(a) for a in alerts)
    message.add_alternative(
        f'<!DOCTYPE html><html><body style="font-family:sans-serif">{html_blocks}</body></html>',
        subtype="html",
    )
    return message


def _text_block(alert: RenderedAlert) -> str:
    # The body already carries every value; `fields` are for structured channels (webhook, log).
    return "\n".join([alert.title, "=" * min(len(alert.title), 60), alert.body, f"alert #{alert.alert_id}"])


def _html_block(alert: RenderedAlert) -> str:
    body = alert.body_html or html.escape(alert.body).replace("\n", "<br>")
    return (
        f'<div style="border-left:4px solid #{alert.color & 0xFFFFFF:06x};padding-left:10px;margin:12px 0">'
        f'<h3 style="margin:0 0 6px 0">{html.escape(alert.title)}</h3><div>{body}</div>'
        f'<p style="color:#888;font-size:small">alert #{alert.alert_id}</p></div>'
    )


class EmailSink:
    """Sends digests through one SMTP submission server."""

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        recipients: Sequence[str],
        *,
        security: SmtpSecurity = SmtpSecurity.STARTTLS,
        username: str | None = None,
        password: SecretStr | None = None,
        timeout_s: float = 10.0,
        attempts: int = 3,
        retry_delay_s: float = 5.0,
        tls_context: ssl.SSLContext | None = None,
        max_alerts_per_email: int = 50,
        name: str = "email",
        clock: Clock | None = None,
    ) -> None:
        if password is not None and not password.get_secret_value():
            password = None
        if security is SmtpSecurity.NONE and (username or password):
            raise ConfigError(
                f"{name}: security 'none' with credentials would send the password in clear text;"
                " use 'starttls' or 'tls'"
            )
        if not recipients:
            raise ConfigError(f"{name}: recipients is empty; list at least one address")
        if attempts < 1:
            raise ConfigError(f"{name}: attempts={attempts}; it must be at least 1")
        self.name = name
        self._host = host
        self._port = port
        self._sender = sender
        self._recipients = tuple(recipients)
        self._security = security
        self._username = username
        self._password = password
        self._timeout_s = timeout_s
        self._attempts = attempts
        self._retry_delay_s = retry_delay_s
        self._tls_context = tls_context or ssl.create_default_context()
        self._max_alerts = max_alerts_per_email
        self._clock = clock or SystemClock()

    def pack(self, alerts: list[RenderedAlert]) -> list[Notification]:
        return pack_greedy(self.name, alerts, lambda _: 1, self._max_alerts)

    async def send(self, notification: Notification) -> None:
        if not notification.alerts:
            return
        message = build_message(notification.alerts, self._sender, self._recipients, self._clock.now_ns())
        for attempt in range(1, self._attempts + 1):
            try:
                await self._attempt(message)
                return
            except RetryableError:
                if attempt == self._attempts:
                    raise
                await asyncio.sleep(self._retry_delay_s)

    async def _attempt(self, message: EmailMessage) -> None:
        # aiosmtplib's timeout is per command: a slow server could stretch one attempt to many of them.
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._deliver(message)
        except TimeoutError:
            raise RetryableError(f"{self.name}: SMTP attempt took over {self._timeout_s:g} s") from None

    async def _deliver(self, message: EmailMessage) -> None:
        """One attempt, classified: 5yz permanent, everything transient retryable."""
        try:
            refused, _ = await aiosmtplib.send(
                message,
                sender=parseaddr(self._sender)[1],
                recipients=self._recipients,
                hostname=self._host,
                port=self._port,
                username=self._username or None,
                password=self._password.get_secret_value() if self._password else None,
                use_tls=self._security is SmtpSecurity.TLS,
                start_tls=self._security is SmtpSecurity.STARTTLS,
                tls_context=self._tls_context,
                timeout=self._timeout_s,
            )
        except aiosmtplib.SMTPRecipientsRefused as e:
            codes = sorted({r.code for r in e.recipients})
            if all(code >= 500 for code in codes):
                raise PermanentError(f"{self.name}: every recipient refused (codes {codes})") from e
            raise RetryableError(f"{self.name}: recipients refused for now (codes {codes})") from e
        except aiosmtplib.SMTPResponseException as e:
            if e.code == 535:
                raise PermanentError(f"{self.name}: SMTP authentication failed (535)") from e
            if e.code >= 500:
                raise PermanentError(f"{self.name}: SMTP rejected ({e.code} {e.message})") from e
            raise RetryableError(f"{self.name}: SMTP transient reply ({e.code} {e.message})") from e
        except aiosmtplib.SMTPNotSupported as e:
            raise PermanentError(f"{self.name}: server lacks a required extension ({e})") from e
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as e:
            raise RetryableError(f"{self.name}: SMTP connection failed ({type(e).__name__})") from e
        if refused:
            _log.warning(
                "email_recipients_partly_refused",
                channel=self.name,
                refused={address: response.code for address, response in refused.items()},
            )

    async def close(self) -> None:
        """Nothing to release: each digest uses its own connection."""
