"""Delivery channels: one small module per channel, each satisfying `notifications.Sink`.

Every sink packs alerts into notifications within its channel's limits (splitting on alert boundaries)
and maps its HTTP/SMTP failures to `RetryableError(retry_after_s)` or `PermanentError` once, at the
boundary. Secrets (webhook URLs, bot tokens, passwords, Apprise URLs) never appear in messages or logs.
"""

from __future__ import annotations

from cryptoradar.sinks._http import HttpPoster
from cryptoradar.sinks.apprise_bridge import AppriseSink
from cryptoradar.sinks.console import ConsoleSink
from cryptoradar.sinks.discord import DiscordSink
from cryptoradar.sinks.factory import build_sink
from cryptoradar.sinks.logfile import FsyncPolicy, JsonLinesSink, StructlogSink
from cryptoradar.sinks.smtp import EmailSink, SmtpSecurity
from cryptoradar.sinks.telegram import TelegramSink
from cryptoradar.sinks.webhook import WebhookSink

__all__ = [
    "AppriseSink",
    "ConsoleSink",
    "DiscordSink",
    "EmailSink",
    "FsyncPolicy",
    "HttpPoster",
    "JsonLinesSink",
    "SmtpSecurity",
    "StructlogSink",
    "TelegramSink",
    "WebhookSink",
    "build_sink",
]
