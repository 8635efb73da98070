"""The wallet path end to end: chain -> WalletMonitor -> AlertService -> stub sinks (and executor webhook)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from evm_harness import Chain, chain, evm_artifacts, evm_config
from fake_node import FakeNode, fake_evm_config, fake_node
from pydantic import SecretStr
from wallet_path_harness import WalletEnvFactory, wallet_env
from websockets.asyncio.server import Server, serve

from conftest import eventually
from cryptoradar.config.evm import EvmConfig, ExecutorWebhookConfig

__all__ = ["chain", "evm_artifacts", "fake_node", "wallet_env"]  # fixtures

EXECUTOR_SECRET = "executor-secret"


async def test_transfer_becomes_one_delivered_alert(chain: Chain, wallet_env: WalletEnvFactory) -> None:
    env = await wallet_env(evm_config(chain))
    await env.ready()
    w1, _, _ = chain.wallets
    outsider = chain.accounts[4]
    tx = await chain.transfer(w1, outsider, 1_500_000)

    await eventually(lambda: len(env.trader.alerts) >= 1, timeout_s=10, what="alert delivered")
    await chain.driver.wait_receipt(tx)
    cursor = env.path.state().chains[0].cursor or 0
    await eventually(
        lambda: (env.path.state().chains[0].cursor or 0) >= cursor + 3, what="3 more blocks pass"
    )

    (alert,) = env.trader.alerts
    assert "w0" in alert.title
    assert "TST" in alert.title
    assert "out" in alert.title
    assert tx in alert.body
    assert env.ops.alerts == []
    (row,) = await env.alerts.list_alerts()
    assert row.signal.labels["tx_hash"] == tx
    assert [(d.channel, d.state) for d in await env.store.deliveries(row.id)] == [("trader", "sent")]
    state = env.path.state()
    assert (state.trades, state.alerts, state.corrections) == (1, 1, 0)


@dataclass
class ExecutorReceiver:
    """A loopback executor endpoint: answers 503 to the first request, then 200; verifies signatures."""

    bodies: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    bad_signatures: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        body = await request.read()
        event_id, ts = request.headers["webhook-id"], request.headers["webhook-timestamp"]
        digest = hmac.new(EXECUTOR_SECRET.encode(), f"{event_id}.{ts}.".encode() + body, hashlib.sha256)
        if request.headers["webhook-signature"] != "v1," + base64.b64encode(digest.digest()).decode():
            self.bad_signatures += 1
            return web.Response(status=401)
        if self.requests == 1:
            return web.Response(status=503)
        self.bodies.append(json.loads(body))
        return web.Response(status=204)


@pytest.fixture
async def executor() -> AsyncIterator[tuple[ExecutorReceiver, str]]:
    receiver = ExecutorReceiver()
    app = web.Application()
    app.router.add_post("/trades", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield receiver, f"http://127.0.0.1:{port}/trades"
    await runner.cleanup()


async def test_reorged_trade_sends_a_correction_and_executor_gets_both(
    fake_node: tuple[FakeNode, Server],
    wallet_env: WalletEnvFactory,
    executor: tuple[ExecutorReceiver, str],
) -> None:
    node, server = fake_node
    receiver, url = executor
    evm = fake_evm_config(server).model_copy(
        update={
            "executor_webhook": ExecutorWebhookConfig(
                url=SecretStr(url), secret=SecretStr(EXECUTOR_SECRET), timeout_s=2.0
            )
        }
    )
    env = await wallet_env(evm)
    await env.ready()
    await eventually(lambda: len(node.subs) >= 2, what="subscriptions")
    tx = "0x" + "ab" * 32

    await node.push_log(tx, 0x11, removed=False)
    await eventually(lambda: len(env.trader.alerts) == 1, what="original alert sent")
    await node.push_log(tx, 0x11, removed=True)
    await eventually(lambda: len(env.trader.alerts) == 2, what="correction sent")
    # A retraction of a log never alerted sends nothing.
    await node.push_log("0x" + "cd" * 32, 0x11, removed=True)
    await eventually(lambda: len(receiver.bodies) == 2, timeout_s=10, what="executor got both")

    original, correction = env.trader.alerts
    assert "whale" in original.title
    assert "Correction" not in original.title
    assert "Correction" in correction.title
    assert tx in correction.body
    assert env.path.state().corrections == 1
    assert env.ops.alerts == []
    trades = [body["trade"] for body in receiver.bodies]
    assert [(t["tx_hash"], t["removed"]) for t in trades] == [(tx, False), (tx, True)]
    assert receiver.bad_signatures == 0
    assert receiver.requests == 3, "the 503 was retried once"
    assert len({b["event_id"] for b in receiver.bodies}) == 2


async def test_trade_reorged_out_during_its_group_wait_is_never_sent(
    fake_node: tuple[FakeNode, Server], wallet_env: WalletEnvFactory
) -> None:
    node, server = fake_node
    env = await wallet_env(fake_evm_config(server), group_wait_s=3600)  # the original waits its group
    await env.ready()
    await eventually(lambda: len(node.subs) >= 2, what="subscriptions")
    tx = "0x" + "ef" * 32

    await node.push_log(tx, 0x11, removed=False)
    await eventually(lambda: env.path.state().alerts == 1, what="original alert queued")
    await node.push_log(tx, 0x11, removed=True)
    await eventually(lambda: env.path.state().trades == 2, what="retraction handled")

    (row,) = await env.alerts.list_alerts()
    assert [(d.channel, d.state, d.last_error) for d in await env.store.deliveries(row.id)] == [
        ("trader", "failed", "retracted before delivery")
    ]
    assert env.alerts.channel_states()["trader"].queued == 0
    assert await env.store.pending_deliveries() == []
    assert env.path.state().corrections == 0
    assert env.trader.alerts == []
    assert env.ops.alerts == []


async def test_websocket_down_too_long_raises_one_operator_alert_and_its_resolution(
    fake_node: tuple[FakeNode, Server], wallet_env: WalletEnvFactory
) -> None:
    node, server = fake_node
    port = next(iter(server.sockets)).getsockname()[1]
    env = await wallet_env(fake_evm_config(server, operator_alert_after_s=1.0))
    await env.ready()
    server.close()  # the node goes away
    await server.wait_closed()

    await eventually(lambda: len(env.ops.alerts) >= 1, timeout_s=10, what="operator alert")
    # Still down: the outage is alerted once, not once per reconnect attempt.
    seen = len(env.statuses)
    await eventually(lambda: len(env.statuses) >= seen + 2, timeout_s=10, what="more reconnect attempts")
    assert len(env.ops.alerts) == 1

    async with serve(node.handle, "127.0.0.1", port):  # the node is back
        await env.ready(timeout_s=70)
        await eventually(lambda: len(env.ops.alerts) == 2, timeout_s=10, what="resolved notice")

    opened, resolved = env.ops.alerts
    assert "Operator" in opened.title
    assert "evm/polygon-ws" in opened.title
    assert "WebSocket down for more than 1s" in opened.body
    assert "Resolved" in resolved.title
    assert env.trader.alerts == [], "operator alerts go to the fallback channels only"
    assert env.path.state().operator_statuses == 1


async def test_disabled_wallet_path_starts_and_stops_as_a_no_op(wallet_env: WalletEnvFactory) -> None:
    env = await wallet_env(EvmConfig())
    state = env.path.state()
    assert (state.enabled, state.chains, state.trades) == (False, (), 0)
