"""Native value transfers from block bodies (exactly once, WebSocket and polling) and pending transactions
(alerted while pending, not again when mined)."""

from __future__ import annotations

import pytest
from evm_harness import Chain, MonitorFactory, chain, evm_artifacts, evm_config, start_monitor
from fake_node import WALLET, FakeNode, fake_evm_config, fake_node
from wallet_path_harness import WalletEnvFactory, wallet_env
from websockets.asyncio.server import Server

from conftest import eventually
from cryptoradar.sources.evm.logs import TradeKind

__all__ = ["chain", "evm_artifacts", "fake_node", "start_monitor", "wallet_env"]  # fixtures

ETHER = 10**18


@pytest.mark.parametrize("websocket", [True, False], ids=["ws", "poll"])
async def test_native_transfers_detected_once(
    chain: Chain, start_monitor: MonitorFactory, websocket: bool
) -> None:
    run = await start_monitor(evm_config(chain, native_transfers=True, websocket_enabled=websocket))
    await run.ready(ws=websocket)
    w1, w2, _ = chain.wallets
    outsider = chain.accounts[4]
    out_tx = await chain.driver.send(w1, outsider, "0x", value_wei=ETHER)
    in_tx = await chain.driver.send(outsider, w2, "0x", value_wei=2 * ETHER)
    token_tx = await chain.transfer(w1, outsider, 1_000_000)  # a token transfer: value 0, not native

    await eventually(lambda: len(run.trades) >= 3, timeout_s=10, what="3 trades")
    for tx in (out_tx, in_tx, token_tx):
        await chain.driver.wait_receipt(tx)
    cursor = run.polygon.processor.cursor or 0
    await eventually(lambda: (run.polygon.processor.cursor or 0) >= cursor + 3, what="3 more blocks")

    keys = run.trade_keys()
    assert len(keys) == len(set(keys)) == 3
    native = sorted(
        (t.tx_hash, t.wallet, t.direction, t.amount, t.token)
        for t in run.trades
        if t.kind == TradeKind.NATIVE
    )
    assert native == sorted([(out_tx, w1, "out", 1.0, "POL"), (in_tx, w2, "in", 2.0, "POL")])
    assert all(t.log_index == -1 for t in run.trades if t.kind == TradeKind.NATIVE)


async def test_pending_transaction_alerted_once_then_not_again_when_mined(
    fake_node: tuple[FakeNode, Server], wallet_env: WalletEnvFactory
) -> None:
    node, server = fake_node
    evm = fake_evm_config(server, pending_transactions=True, native_transfers=True)
    env = await wallet_env(evm)
    await env.ready()
    await eventually(lambda: "newPendingTransactions" in node.subs.values(), what="pending subscription")
    tx_hash = "0x" + "77" * 32
    tx = {
        "hash": tx_hash,
        "from": WALLET,
        "to": "0x" + "22" * 20,
        "value": hex(3 * ETHER),
        "blockNumber": None,
    }
    node.txs[tx_hash] = tx
    # Someone else's pending transaction is not ours to report.
    node.txs["0x" + "78" * 32] = tx | {"hash": "0x" + "78" * 32, "from": "0x" + "99" * 20}
    await node.push_pending("0x" + "78" * 32)
    await node.push_pending(tx_hash)
    await eventually(lambda: len(env.trader.alerts) == 1, what="pending alert")

    # Mined in block 0x11: the native transfer is detected, but it is the same trade: no second alert.
    node.blocks[0x11] = [tx | {"blockNumber": "0x11"}]
    await node.push_head(0x11)
    await node.push_head(0x12)
    await eventually(lambda: env.path.state().trades == 2, what="mined transfer reaches the pipeline")
    await eventually(lambda: (env.path.state().chains[0].cursor or 0) >= 0x11, what="cursor passes the block")

    (alert,) = env.trader.alerts
    assert "whale" in alert.title
    assert tx_hash in alert.body
    assert "pending_tx" in alert.body
    assert env.path.state().alerts == 1


async def test_node_without_pending_subscriptions_is_skipped_and_trades_still_flow(
    fake_node: tuple[FakeNode, Server], wallet_env: WalletEnvFactory
) -> None:
    node, server = fake_node
    node.refuse.add("newPendingTransactions")
    env = await wallet_env(fake_evm_config(server, pending_transactions=True))
    await env.ready()
    await eventually(lambda: len(node.subs) >= 2, what="log subscriptions")
    tx = "0x" + "ab" * 32
    await node.push_log(tx, 0x11, removed=False)
    await eventually(lambda: len(env.trader.alerts) == 1, what="trade alert")
    assert "newPendingTransactions" not in node.subs.values()
    assert env.path.state().chains[0].ws_ready
