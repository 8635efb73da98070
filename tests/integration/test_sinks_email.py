"""EmailSink against a real aiosmtpd server on loopback, with TLS from a trustme CA."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from pydantic import SecretStr

from cryptoradar.core.errors import ConfigError, PermanentError, RetryableError
from cryptoradar.events import Severity
from cryptoradar.notifications import Notification
from cryptoradar.sinks.smtp import EmailSink, SmtpSecurity
from fakes.alerts import HOSTILE_LABEL, sample_alert
from fakes.leaks import leaks

USER = "alerts@example.test"
PASSWORD = "CANARY-smtp-pa55word"


@dataclass
class Mailbox:
    """aiosmtpd handler: records messages and TLS state; can answer DATA with scripted replies."""

    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[Envelope] = field(default_factory=list)
    over_tls: list[bool] = field(default_factory=list)
    data_replies: list[str] = field(default_factory=list)
    data_attempts: int = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.data_attempts += 1
        if self.data_replies:
            return self.data_replies.pop(0)
        assert isinstance(envelope.content, bytes)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        self.envelopes.append(envelope)
        self.over_tls.append(session.ssl is not None)
        return "250 OK"


@dataclass
class Authenticator:
    accept: bool
    sessions: set[int] = field(default_factory=set)
    """Connections that tried to authenticate (aiosmtplib tries each offered mechanism on one)."""

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        self.sessions.add(id(session))
        ok = (
            self.accept
            and isinstance(data, LoginPassword)
            and data.login.decode() == USER
            and data.password.decode() == PASSWORD
        )
        return AuthResult(success=ok, handled=False)


@dataclass
class SmtpServer:
    port: int
    mailbox: Mailbox
    auth: Authenticator
    client_tls: ssl.SSLContext


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def client_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def _server_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


def _run(controller_kwargs: dict[str, Any], accept: bool, client_tls: ssl.SSLContext) -> Iterator[SmtpServer]:
    mailbox, auth = Mailbox(), Authenticator(accept)
    port = _free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, authenticator=auth, **controller_kwargs)
    controller.start()
    try:
        yield SmtpServer(port, mailbox, auth, client_tls)
    finally:
        controller.stop()


@pytest.fixture(params=[True, False], ids=["auth_ok", "auth_rejected"])
def starttls_server(
    request: pytest.FixtureRequest, ca: trustme.CA, client_tls: ssl.SSLContext
) -> Iterator[SmtpServer]:
    kwargs = {"tls_context": _server_tls(ca), "require_starttls": True, "auth_required": True}
    yield from _run(kwargs, request.param, client_tls)


@pytest.fixture
def implicit_tls_server(ca: trustme.CA, client_tls: ssl.SSLContext) -> Iterator[SmtpServer]:
    # aiosmtpd only counts STARTTLS as TLS for AUTH; with implicit TLS the whole session is encrypted,
    # so AUTH is offered without its TLS check (the authenticator still verifies the credentials).
    kwargs = {"ssl_context": _server_tls(ca), "auth_require_tls": False}
    yield from _run(kwargs, True, client_tls)


def _sink(server: SmtpServer, security: SmtpSecurity, **kwargs: Any) -> EmailSink:
    return EmailSink(
        "127.0.0.1",
        server.port,
        "cryptoradar <radar@example.test>",
        ["ops@example.test", "desk@example.test"],
        security=security,
        username=USER,
        password=SecretStr(PASSWORD),
        tls_context=server.client_tls,
        timeout_s=5,
        **kwargs,
    )


DIGEST = Notification(
    channel="email",
    alerts=(
        sample_alert(1, title=HOSTILE_LABEL, severity=Severity.WARNING),
        sample_alert(
            2, title="ETHUSDT short", severity=Severity.CRITICAL, body_html="<p><i>pre-escaped</i> html</p>"
        ),
    ),
)


def _check_digest(message: EmailMessage) -> None:
    assert message.get_content_type() == "multipart/alternative"
    text, html = message.iter_parts()
    assert text.get_content_type() == "text/plain"
    assert html.get_content_type() == "text/html"
    assert message["Subject"] == f"[CRITICAL] 2 alerts: {' '.join(HOSTILE_LABEL.split())}"
    assert message["To"] == "ops@example.test, desk@example.test"
    assert message["From"] == "cryptoradar <radar@example.test>"
    assert message["Date"]
    assert message["Message-ID"].endswith("@example.test>")
    plain, markup = text.get_content(), html.get_content()
    assert HOSTILE_LABEL in plain
    assert "Entry: 97000.5" not in plain  # the body carries the values; fields are not repeated
    assert "&lt;b&gt;@everyone&lt;/b&gt;" in markup
    assert "<b>@everyone" not in markup
    assert "<p><i>pre-escaped</i> html</p>" in markup


async def test_starttls_digest_is_delivered_or_auth_failure_is_permanent(starttls_server: SmtpServer) -> None:
    sink = _sink(starttls_server, SmtpSecurity.STARTTLS, retry_delay_s=0.01)
    if not starttls_server.auth.accept:
        with pytest.raises(PermanentError, match="535") as caught:
            await sink.send(DIGEST)
        assert (
            len(starttls_server.auth.sessions) == 1
        )  # never retried: retrying bad credentials locks accounts
        assert leaks(PASSWORD, errors=[caught.value]) == []
        return
    await sink.send(DIGEST)
    [message] = starttls_server.mailbox.messages
    assert starttls_server.mailbox.over_tls == [True]
    assert starttls_server.mailbox.envelopes[0].mail_from == "radar@example.test"
    assert starttls_server.mailbox.envelopes[0].rcpt_tos == ["ops@example.test", "desk@example.test"]
    _check_digest(message)


async def test_implicit_tls_digest_is_delivered(implicit_tls_server: SmtpServer) -> None:
    await _sink(implicit_tls_server, SmtpSecurity.TLS).send(DIGEST)
    [message] = implicit_tls_server.mailbox.messages
    _check_digest(message)


async def test_transient_reply_is_retried_then_delivered(implicit_tls_server: SmtpServer) -> None:
    implicit_tls_server.mailbox.data_replies = ["451 4.3.0 try again later"]
    await _sink(implicit_tls_server, SmtpSecurity.TLS, retry_delay_s=0.01).send(DIGEST)
    assert implicit_tls_server.mailbox.data_attempts == 2
    assert len(implicit_tls_server.mailbox.messages) == 1


async def test_permanent_reply_is_not_retried(implicit_tls_server: SmtpServer) -> None:
    implicit_tls_server.mailbox.data_replies = ["554 5.7.1 rejected as spam"]
    with pytest.raises(PermanentError, match="554"):
        await _sink(implicit_tls_server, SmtpSecurity.TLS, retry_delay_s=0.01).send(DIGEST)
    assert implicit_tls_server.mailbox.data_attempts == 1


async def test_server_down_is_retryable_after_the_configured_attempts(client_tls: ssl.SSLContext) -> None:
    connections = 0

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        sink = _sink(
            SmtpServer(port, Mailbox(), Authenticator(True), client_tls),
            SmtpSecurity.TLS,
            attempts=3,
            retry_delay_s=0.01,
        )
        with pytest.raises(RetryableError) as caught:
            await sink.send(DIGEST)
    finally:
        server.close()
        await server.wait_closed()
    assert connections == 3
    assert leaks(PASSWORD, errors=[caught.value]) == []
    refused = _sink(
        SmtpServer(_free_port(), Mailbox(), Authenticator(True), client_tls),
        SmtpSecurity.STARTTLS,
        attempts=2,
        retry_delay_s=0.01,
    )
    with pytest.raises(RetryableError):
        await refused.send(DIGEST)


def test_plain_smtp_with_credentials_is_refused_at_construction() -> None:
    with pytest.raises(ConfigError, match="clear text"):
        EmailSink(
            "127.0.0.1",
            25,
            "a@b.c",
            ["d@e.f"],
            security=SmtpSecurity.NONE,
            username="u",
            password=SecretStr("p"),
        )
