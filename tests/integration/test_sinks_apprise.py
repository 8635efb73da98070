"""AppriseSink through Apprise's `json://` service to a local aiohttp receiver."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from pydantic import SecretStr

from cryptoradar.core.errors import ConfigError, RetryableError
from cryptoradar.notifications import Notification
from cryptoradar.sinks.apprise_bridge import AppriseSink
from fakes._server import LoopbackServer
from fakes.alerts import HOSTILE_LABEL, sample_alert
from fakes.leaks import leaks

CANARY = "CANARY-apprise-pa55"


@dataclass
class JsonReceiver:
    status: int = 200
    posts: list[dict[str, object]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.posts.append(await request.json())
        return web.Response(status=self.status)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[JsonReceiver, int]]:
    target = JsonReceiver()
    app = web.Application()
    app.router.add_post("/notify", target.handle)
    async with LoopbackServer(app) as server:
        yield target, server.port


async def test_digest_reaches_the_service_as_plain_text(receiver: tuple[JsonReceiver, int]) -> None:
    target, port = receiver
    sink = AppriseSink([SecretStr(f"json://user:{CANARY}@127.0.0.1:{port}/notify")])
    [notification] = sink.pack([sample_alert(1, title=HOSTILE_LABEL), sample_alert(2)])
    await sink.send(notification)
    [post] = target.posts
    assert post["title"] == f"2 alerts: {HOSTILE_LABEL}"
    message = post["message"]
    assert isinstance(message, str)
    assert HOSTILE_LABEL in message
    assert "Entry: 97000.5" in message
    assert "alert #2" in message


async def test_failed_service_is_retryable_without_leaking_the_url(
    receiver: tuple[JsonReceiver, int], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    target, port = receiver
    target.status = 500
    sink = AppriseSink([SecretStr(f"json://user:{CANARY}@127.0.0.1:{port}/notify")])
    with pytest.raises(RetryableError) as caught:
        await sink.send(Notification(channel="apprise", alerts=(sample_alert(),)))
    assert len(target.posts) == 1
    assert leaks(CANARY, errors=[caught.value], texts=[caplog.text]) == []


def test_unknown_url_is_a_config_error_without_the_value() -> None:
    with pytest.raises(ConfigError) as caught:
        AppriseSink([SecretStr(f"nosuchscheme://{CANARY}")])
    assert CANARY not in str(caught.value)
