"""Operator alert end to end: the simulator answers 418, the real REST client publishes its ban status,
a real AlertService turns it into ONE operator email, received and MIME-parsed by a real aiosmtpd
server, and one line in the JSON-lines log file (the two fallback channels)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import eventually
from cryptoradar.config.alerts import AlertsConfig
from cryptoradar.core.clock import SystemClock
from cryptoradar.core.errors import RetryableError
from cryptoradar.events import Market
from cryptoradar.sim import Fault, FaultKind, SimOptions, Simulator
from cryptoradar.sources.binance.rest import BinanceRest, RestSettings
from fakes.alerts import running_service
from fakes.smtp import Inbox, plain_smtp


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    with plain_smtp() as server:
        yield server


async def test_rest_ban_reaches_the_operator_by_email_and_log_once(
    smtp: tuple[Inbox, int], tmp_path: Path
) -> None:
    mailbox, port = smtp
    log_path = tmp_path / "operator.jsonl"
    config = AlertsConfig.model_validate(
        {
            "channels": {
                "console": {"type": "console"},
                "oplog": {"type": "log", "path": str(log_path)},
                "email": {
                    "type": "email",
                    "host": "127.0.0.1",
                    "port": port,
                    "security": "none",
                    "sender": "cryptoradar <radar@example.test>",
                    "recipients": ["ops@example.test"],
                    "timeout_s": 5,
                    "retry_delay_s": 0.1,
                },
            },
            "default_channels": ["console"],
            "fallback_channels": ["oplog", "email"],
        }
    )
    opts = SimOptions(seed=9, symbols=5, acceleration=60.0, intervals=("1m",), futures_symbols=1)
    async with running_service(config, tmp_path / "alerts.db") as (service, store):
        async with Simulator(opts) as sim:
            rest = BinanceRest(
                RestSettings(Market.SPOT, sim.spot_rest_url, 4800), SystemClock(), service.on_feed_status
            )
            async with rest:
                sim.inject(Fault(kind=FaultKind.REST_ERRORS, market=Market.SPOT, status=418, count=1))
                for _ in range(3):  # the ban, then requests refused locally during it
                    with pytest.raises(RetryableError):
                        await rest.klines(sim.symbols[0], "1m", limit=5)
        await eventually(lambda: len(mailbox.messages) == 1, what="the operator email")
        await eventually(lambda: log_path.exists() and log_path.read_text().strip() != "", what="log line")
        # Sent straight to the fallback sinks, not through the outbox: it must not need a writable store.
        assert await store.list_alerts() == []

    [message] = mailbox.messages
    assert message["Subject"].startswith("[CRITICAL]")
    assert "REST banned" in message["Subject"]
    assert message["To"] == "ops@example.test"
    text, html = message.iter_parts()
    assert "Binance spot REST IP ban (418)" in text.get_content()
    assert "<b>Operator alert</b>" in html.get_content()
    [line] = log_path.read_text().splitlines()
    assert json.loads(line)["title"] == "⚠️ Operator: binance-spot-rest: REST banned"
    assert service.operator_incidents() == []  # a ban is one notice; it expires on its own
