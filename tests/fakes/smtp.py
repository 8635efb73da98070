"""A real aiosmtpd server on 127.0.0.1 (plain SMTP) that keeps every message it receives, MIME-parsed."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


class Inbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 OK"


class StallingInbox(Inbox):
    """Never answers the DATA of the first `stalls` messages (a hung server), then accepts as usual."""

    def __init__(self, stalls: int) -> None:
        super().__init__()
        self.stalls = stalls
        self.stalled = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.stalled < self.stalls:
            self.stalled += 1
            await asyncio.Event().wait()  # until the client gives up and the server is stopped
        return await super().handle_DATA(server, session, envelope)


@contextmanager
def plain_smtp(inbox: Inbox | None = None) -> Iterator[tuple[Inbox, int]]:
    """(inbox, port) of a running server; stopped on exit."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    inbox = inbox or Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()
