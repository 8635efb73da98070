"""An e-mail channel's send timeout covers the sink's own retries: against a real aiosmtpd server that
hangs on the first two messages, the third attempt is still made and delivered (the old fixed 30 s
timeout cut off the third of 3 x 10 s attempts); a timeout set below the retry budget is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from conftest import eventually
from cryptoradar.config.alerts import AlertsConfig, EmailChannel
from fakes.alerts import running_service
from fakes.signals import make_signal
from fakes.smtp import StallingInbox, plain_smtp

EMAIL = {
    "type": "email",
    "host": "127.0.0.1",
    "security": "none",
    "sender": "cryptoradar <radar@example.test>",
    "recipients": ["ops@example.test"],
    "timeout_s": 0.5,
    "retry_delay_s": 0.2,
    "attempts": 3,
}


async def test_the_third_attempt_against_a_hanging_server_is_delivered_once(tmp_path: Path) -> None:
    with plain_smtp(StallingInbox(stalls=2)) as (inbox, port):
        config = AlertsConfig.model_validate(
            {
                "channels": {"email": {**EMAIL, "port": port}},
                "default_channels": ["email"],
                "fallback_channels": ["email"],
                "group_wait_s": 0,
            }
        )
        channel = config.channels["email"]
        assert isinstance(channel, EmailChannel)
        assert channel.send_timeout_s == pytest.approx(3 * 0.5 + 2 * 0.2 + 5.0)
        async with running_service(config, tmp_path / "alerts.db") as (service, store):
            alert_id = await service.submit(make_signal(symbol="ETHUSDT"))
            await eventually(lambda: len(inbox.messages) == 1, timeout_s=20, what="the e-mail delivered")

            async def marked_sent() -> bool:
                return await store.pending_deliveries() == []

            await eventually(marked_sent, timeout_s=5, what="the delivery marked sent")
    assert isinstance(inbox, StallingInbox)
    assert inbox.stalled == 2, "two attempts hung and were cut off by the sink's own per-attempt timeout"
    assert alert_id is not None
    assert "ETHUSDT" in str(inbox.messages[0]["Subject"]) + inbox.messages[0].get_body().get_content()


async def test_an_operator_notice_by_e_mail_also_gets_its_third_attempt(tmp_path: Path) -> None:
    with plain_smtp(StallingInbox(stalls=2)) as (inbox, port):
        config = AlertsConfig.model_validate(
            {
                "channels": {"email": {**EMAIL, "port": port}},
                "default_channels": ["email"],
                "fallback_channels": ["email"],
            }
        )
        async with running_service(config, tmp_path / "alerts.db") as (service, _):
            for _ in range(config.operator.store_failures_before_alert):
                service.report_store_error("OperationalError: disk I/O error")
            await eventually(lambda: len(inbox.messages) == 1, timeout_s=20, what="the notice e-mailed")
    assert isinstance(inbox, StallingInbox)
    assert inbox.stalled == 2
    assert "disk I/O error" in inbox.messages[0].get_body().get_content()


def test_a_send_timeout_below_the_retry_budget_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"send_timeout_s \(1\.5\) is shorter than the e-mail retries"):
        EmailChannel.model_validate({**EMAIL, "send_timeout_s": 1.5})
    assert EmailChannel.model_validate({**EMAIL, "send_timeout_s": 1.9}).send_timeout_s == 1.9
