"""`build_sink`: a channel config model (`config.alerts`) -> its sink."""

from __future__ import annotations

import aiohttp

from cryptoradar.config.alerts import (
    AppriseChannel,
    ChannelConfig,
    ConsoleChannel,
    DiscordChannel,
    EmailChannel,
    LogChannel,
    TelegramChannel,
    WebhookChannel,
)
from cryptoradar.notifications import Sink
from cryptoradar.sinks.apprise_bridge import AppriseSink
from cryptoradar.sinks.console import ConsoleSink
from cryptoradar.sinks.discord import DiscordSink
from cryptoradar.sinks.logfile import JsonLinesSink, StructlogSink
from cryptoradar.sinks.smtp import EmailSink, SmtpSecurity
from cryptoradar.sinks.telegram import TelegramSink
from cryptoradar.sinks.webhook import WebhookSink


def build_sink(
    name: str, channel_config: ChannelConfig, *, session: aiohttp.ClientSession | None = None
) -> Sink:
    """The sink for `channel_config` (dispatching on its `type`), named `name`, the channel's key.

    `session` is shared by the HTTP sinks when given (the caller then closes it); otherwise each HTTP sink
    owns one and closes it in `close()`.
    """
    match channel_config:
        case ConsoleChannel():
            return ConsoleSink(name=name)
        case LogChannel(path=None):
            return StructlogSink(name=name)
        case LogChannel(path=path) if path is not None:
            return JsonLinesSink(path, name=name)
        case DiscordChannel():
            return DiscordSink(
                channel_config.webhook_url,
                channel_config.username,
                session,
                name=name,
                timeout_s=channel_config.timeout_s,
            )
        case TelegramChannel():
            return TelegramSink(
                channel_config.bot_token,
                channel_config.chat_id,
                channel_config.api_base_url,
                session,
                name=name,
                timeout_s=channel_config.timeout_s,
            )
        case EmailChannel():
            return EmailSink(
                channel_config.host,
                channel_config.port,
                channel_config.sender,
                channel_config.recipients,
                security=SmtpSecurity(channel_config.security),
                username=channel_config.username or None,
                password=channel_config.password,
                timeout_s=channel_config.timeout_s,
                attempts=channel_config.attempts,
                retry_delay_s=channel_config.retry_delay_s,
                name=name,
            )
        case WebhookChannel():
            return WebhookSink(
                channel_config.url,
                channel_config.secret,
                session,
                name=name,
                timeout_s=channel_config.timeout_s,
                id_header=channel_config.id_header,
                timestamp_header=channel_config.timestamp_header,
                signature_header=channel_config.signature_header,
            )
        case AppriseChannel():
            return AppriseSink(channel_config.urls, name=name)
    raise AssertionError(f"unhandled channel type {channel_config.type}")  # the union is closed
