"""Reorgs on the paths that never see `removed: true`: polling and the WebSocket's backfill.

A real reorg on the real local chain: `evm_snapshot` before a trade, `evm_revert` after it was alerted,
and ganache mines a new chain over the same heights (other block hashes, the trade gone). The monitor
must find the replaced block by its hash and send one correction to the channel the trade alerted.
"""

from __future__ import annotations

import aiohttp
from evm_harness import Chain, chain, evm_artifacts, evm_config
from pydantic import SecretStr
from tcp_relay import TcpRelay
from wallet_path_harness import WalletEnv, WalletEnvFactory, wallet_env

from conftest import eventually
from cryptoradar.sources.evm.devchain import rpc_call

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
