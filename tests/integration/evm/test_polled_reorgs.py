"""Reorgs on the paths that never see `removed: true`: polling and the WebSocket's backfill.

A real reorg on the real local chain: `evm_snapshot` before a trade, `evm_revert` after it was alerted,
and ganache mines a new chain over the same heights (other block hashes, the trade gone). The monitor
must find the replaced block by its hash and send one correction to the channel the trade alerted.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from evm_harness import BLOCK_TIME_S, Chain, chain, evm_artifacts, evm_config
from pydantic import SecretStr
from tcp_relay import TcpRelay
from wallet_path_harness import WalletEnv, WalletEnvFactory, wallet_env

from conftest import eventually
from cryptoradar.sources.evm.devchain import free_port, rpc_call

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/integration, for the process harness
from process_harness import simulator_process, spawn, webhook_stub, write_yaml
from test_app_lifecycle_process import IMPOSSIBLE_MOVE_PCT
from test_app_lifecycle_process import _config as lifecycle_config

__all__ = ["chain", "evm_artifacts", "wallet_env"]  # fixtures


async def _rpc(chain: Chain, method: str, params: list[object]) -> object:
    async with aiohttp.ClientSession() as session:
        return await rpc_call(session, chain.node.http_url, method, params)


def _cursor(env: WalletEnv) -> int:
    chains = env.path.state().chains
    return (chains[0].cursor or 0) if chains else 0


async def _trade(chain: Chain, env: WalletEnv) -> tuple[str, dict[str, object], object]:
    """Snapshot the chain, then alert a transfer; returns (tx hash, its receipt, the snapshot id)."""
    snapshot = await _rpc(chain, "evm_snapshot", [])
    w1, _, _ = chain.wallets
    tx = await chain.transfer(w1, chain.accounts[4], 2_500_000)
    receipt = await chain.driver.wait_receipt(tx)
    await eventually(lambda: len(env.trader.alerts) == 1, timeout_s=10, what="trade alerted")
    return tx, receipt, snapshot


async def _reorg(chain: Chain, snapshot: object, tx: str, receipt: dict[str, object]) -> None:
    """Revert to the snapshot and wait until ganache mined a new chain 2 blocks past the trade's block."""
    assert await _rpc(chain, "evm_revert", [snapshot]) is True
    assert await _rpc(chain, "eth_getTransactionReceipt", [tx]) is None, "the trade left the chain"
    number = str(receipt["blockNumber"])

    async def new_chain_past_trade() -> bool:
        return int(str(await _rpc(chain, "eth_blockNumber", [])), 16) >= int(number, 16) + 2

    await eventually(new_chain_past_trade, timeout_s=10, what="new chain past the trade")
    block = await _rpc(chain, "eth_getBlockByNumber", [number, False])
    assert isinstance(block, dict)
    assert block["hash"] != receipt["blockHash"], "a real reorg: the trade's block was replaced"


async def _assert_one_correction(env: WalletEnv, tx: str) -> None:
    await eventually(lambda: len(env.trader.alerts) >= 2, timeout_s=15, what="correction delivered")
    # More blocks handled over the new chain: the correction is not repeated, the trade not re-sent.
    mark = _cursor(env)
    await eventually(lambda: _cursor(env) >= mark + 4, timeout_s=15, what="4 more blocks handled")
    original, correction = env.trader.alerts
    assert "Correction" not in original.title
    assert "Correction" in correction.title
    assert tx in original.body
    assert tx in correction.body
    state = env.path.state()
    assert (state.trades, state.alerts, state.corrections) == (2, 1, 1)
    # The fallback channel gets operator notices only (a WebSocket outage), never the trade's correction.
    assert all("evm/polygon-ws" in a.title for a in env.ops.alerts), [a.title for a in env.ops.alerts]


async def test_polling_retracts_a_trade_whose_block_was_reorged_away(
    chain: Chain, wallet_env: WalletEnvFactory
) -> None:
    env = await wallet_env(evm_config(chain, websocket_enabled=False, fallback_polling_interval_s=1.0))
    await eventually(lambda: _cursor(env) > 0, what="polling started")
    tx, receipt, snapshot = await _trade(chain, env)

    await _reorg(chain, snapshot, tx, receipt)
    await _assert_one_correction(env, tx)


async def test_backfill_retracts_a_trade_reorged_away_while_the_websocket_was_down(
    chain: Chain, wallet_env: WalletEnvFactory
) -> None:
    # WebSocket only, through a relay: no polling path, so only the reconnect's backfill can see it.
    relay = TcpRelay(target_port=chain.node.port)
    await relay.open()
    try:
        env = await wallet_env(evm_config(chain, ws_url=SecretStr(relay.ws_url), http_url=None))
        await env.ready()
        tx, receipt, snapshot = await _trade(chain, env)

        await relay.close()
        await eventually(lambda: not env.path.state().chains[0].ws_ready, what="WebSocket down")
        await _reorg(chain, snapshot, tx, receipt)
        assert len(env.trader.alerts) == 1
        await relay.open()
        await _assert_one_correction(env, tx)
    finally:
        await relay.close()


def _run_config(
    tmp_path: Path, chain: Chain, spot_url: str, futures_url: str, hook_url: str
) -> dict[str, Any]:
    """The lifecycle test's `run` config (simulator markets, one webhook channel, no market alert possible),
    with the wallet monitor polling the local chain."""
    config = lifecycle_config(tmp_path, spot_url, futures_url, hook_url, free_port(), IMPOSSIBLE_MOVE_PCT)
    config["evm"] = {
        "enabled": True,
        "chains": [{"name": "polygon", "chain_id": 137, "http_url": chain.node.http_url,
                    "websocket_enabled": False, "fallback_polling_interval_s": 1.0,
                    "block_time_hint_s": BLOCK_TIME_S}],
        "wallets": [{"address": w, "label": f"w{i}", "chain": "polygon"} for i, w in enumerate(chain.wallets)],
        "watch": {"erc20_tokens": [chain.token], "erc1155_contracts": [chain.multi],
                  "polymarket": {"exchanges": [chain.exchange]},
                  "tokens": [{"address": chain.token, "symbol": "TST", "decimals": 6}]},
    }  # fmt: skip
    return config


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_cryptoradar_run_sends_one_correction_for_a_polled_trade_reorged_away(
    chain: Chain, tmp_path: Path
) -> None:
    """End to end: `cryptoradar run` in a child process, polling the real chain, a real webhook channel."""
    alerts: list[dict[str, Any]] = []

    def record(body: Any) -> list[int]:
        alerts.extend(body["alerts"])
        return [a["alert_id"] for a in body["alerts"]]

    async with (
        webhook_stub(record) as hook,
        simulator_process(tmp_path, symbols=4, futures_symbols=2) as (spot_url, futures_url),
    ):
        config = _run_config(tmp_path, chain, spot_url, futures_url, hook.url)
        run = await spawn(
            ["run", "--config", str(write_yaml(tmp_path / "radar.yaml", config))], tmp_path, "run"
        )
        try:
            w0, w1, _ = chain.wallets

            # The first trade tells us the child polls the chain (its cursor starts at the head it saw).
            async def alerted(tx: str) -> bool:
                assert run.proc.returncode is None, run.stderr.read_text()[-2000:]
                return any(tx in a["body"] for a in alerts)

            for _ in range(20):  # trades before the child's first poll are history: never alerted
                warmup = await chain.transfer(w1, chain.accounts[4], 1_000_000)
                await chain.driver.wait_receipt(warmup)
                try:
                    await eventually(lambda t=warmup: alerted(t), timeout_s=3, what="a polled trade alerted")
                    break
                except AssertionError:
                    assert run.proc.returncode is None, run.stderr.read_text()[-2000:]
            assert any(warmup in a["body"] for a in alerts), "the child alerts polled trades"
            snapshot = await _rpc(chain, "evm_snapshot", [])
            tx = await chain.transfer(w0, chain.accounts[4], 2_500_000)
            receipt = await chain.driver.wait_receipt(tx)
            await eventually(lambda: alerted(tx), timeout_s=15, what="the trade alerted")
            await _reorg(chain, snapshot, tx, receipt)
            await eventually(
                lambda: any("Correction" in a["title"] for a in alerts), timeout_s=15, what="correction"
            )
            # A later trade alerts only after the poller went over the reorged range again: by then a
            # repeated correction would have been sent.
            later = await chain.transfer(w1, chain.accounts[5], 3_000_000)
            await eventually(lambda: alerted(later), timeout_s=15, what="a later trade alerted")
            run.send(signal.SIGTERM)
            assert await run.wait(30) == 0
        finally:
            await run.kill()

    about_tx = [a for a in alerts if tx in a["body"]]
    assert ["Correction" in a["title"] for a in about_tx] == [False, True]
    assert "w0" in about_tx[1]["title"]
