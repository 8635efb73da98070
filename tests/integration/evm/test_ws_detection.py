"""Transfers from and to watched wallets are detected exactly once, over the WebSocket and by polling."""

from __future__ import annotations

import asyncio

from evm_harness import Chain, MonitorFactory, chain, evm_artifacts, evm_config, start_monitor

from conftest import eventually
from cryptoradar.events import ConnectionState
from cryptoradar.sources.evm.logs import TradeDirection, TradeKind

__all__ = ["chain", "evm_artifacts", "start_monitor"]  # fixtures


async def _send_mixed(chain: Chain) -> list[str]:
    """Outgoing, incoming and wallet-to-wallet transfers; returns the tx hashes."""
    w1, w2, w3 = chain.wallets
    outsider = chain.accounts[4]
    return list(
        await asyncio.gather(
            chain.transfer(w1, outsider, 1_500_000),
            chain.transfer(outsider, w2, 2_000_000),
            chain.transfer(w3, w1, 3_000_000),
        )
    )


async def test_websocket_detects_each_transfer_once(chain: Chain, start_monitor: MonitorFactory) -> None:
    run = await start_monitor(evm_config(chain))
    await run.ready()
    hashes = await _send_mixed(chain)

    # w3 -> w1 involves two watched wallets: one trade each.
    await eventually(lambda: len(run.trades) >= 4, timeout_s=10, what="4 trades")
    for tx in hashes:
        await chain.driver.wait_receipt(tx)
    # A few more blocks pass: nothing may arrive twice.
    head = run.polygon.processor.cursor or 0
    await eventually(lambda: (run.polygon.processor.cursor or 0) >= head + 3, what="3 more blocks")

    keys = run.trade_keys()
    assert len(keys) == len(set(keys)) == 4
    by_wallet = {(t.wallet, t.direction): t for t in run.trades}
    w1, w2, w3 = chain.wallets
    assert by_wallet[(w1, TradeDirection.OUT)].amount == 1.5
    assert by_wallet[(w1, TradeDirection.OUT)].counterparty == chain.accounts[4]
    assert by_wallet[(w2, TradeDirection.IN)].amount == 2.0
    assert by_wallet[(w3, TradeDirection.OUT)].counterparty == w1
    assert by_wallet[(w1, TradeDirection.IN)].counterparty == w3
    assert {t.tx_hash for t in run.trades} == set(hashes)
    assert all(t.kind == TradeKind.ERC20 and t.token == "TST" and t.wallet_label for t in run.trades)
    assert all(t.explorer_url == f"https://polygonscan.com/tx/{t.tx_hash}" for t in run.trades)
    assert run.polygon.polls == 0, "polling must stay idle while the WebSocket is up"
    assert any(s.state is ConnectionState.CONNECTED for s in run.statuses)


async def test_polling_detects_each_transfer_once(chain: Chain, start_monitor: MonitorFactory) -> None:
    run = await start_monitor(evm_config(chain, websocket_enabled=False))
    await run.ready(ws=False)
    hashes = await _send_mixed(chain)

    await eventually(lambda: len(run.trades) >= 4, timeout_s=10, what="4 trades")
    polls = run.polygon.polls
    await eventually(lambda: run.polygon.polls >= polls + 2, what="2 more polls")

    keys = run.trade_keys()
    assert len(keys) == len(set(keys)) == 4
    assert {t.tx_hash for t in run.trades} == set(hashes)


async def test_erc1155_and_polymarket_fills_over_websocket(
    chain: Chain, start_monitor: MonitorFactory
) -> None:
    run = await start_monitor(evm_config(chain))
    await run.ready()
    w1, w2, w3 = chain.wallets
    outsider, deployer = chain.accounts[4], chain.accounts[0]
    d = chain.driver
    mints = []
    for token_id, amount in ((1, 10), (2, 20)):
        mints.append(
            await d.call(
                "TestMultiToken", chain.multi, deployer, "mint(address,uint256,uint256)", w1, token_id, amount
            )
        )
        await d.wait_receipt(mints[-1])  # one transaction in flight per account (see ChainDriver)
    single = await d.call(
        "TestMultiToken",
        chain.multi,
        w1,
        "safeTransferFrom(address,address,uint256,uint256,bytes)",
        w1,
        outsider,
        1,
        3,
        [],
    )
    await d.wait_receipt(single)
    batch = await d.call(
        "TestMultiToken",
        chain.multi,
        w1,
        "safeBatchTransferFrom(address,address,uint256[],uint256[],bytes)",
        w1,
        w2,
        [1, 2],
        [2, 5],
        [],
    )
    order_hash = "0x" + "5a" * 32
    fill = await d.call(
        "TestExchange",
        chain.exchange,
        deployer,
        "fill(bytes32,address,address,uint8,uint256,uint256,uint256,uint256)",
        order_hash,
        w3,
        outsider,
        1,
        77,
        2_500_000,
        1_000_000,
        0,
    )
    await d.wait_receipt(fill)
    matched = await d.call(
        "TestExchange",
        chain.exchange,
        deployer,
        "matched(bytes32,address,uint8,uint256,uint256,uint256)",
        order_hash,
        w3,
        0,
        77,
        1_000_000,
        2_000_000,
    )
    # 2 mints + 1 single + batch (2 ids x 2 watched wallets) + fill + match
    await eventually(lambda: len(run.trades) >= 9, timeout_s=10, what="9 trades")
    await asyncio.gather(*(d.wait_receipt(tx) for tx in (batch, matched)))

    got = sorted((t.tx_hash, t.wallet, t.direction, t.kind, t.token, t.amount) for t in run.trades)
    assert len(run.trade_keys()) == 9
    assert got == sorted(
        [
            (mints[0], w1, "in", "erc1155", "MT:1", 10.0),
            (mints[1], w1, "in", "erc1155", "MT:2", 20.0),
            (single, w1, "out", "erc1155", "MT:1", 3.0),
            (batch, w1, "out", "erc1155", "MT:1", 2.0),
            (batch, w1, "out", "erc1155", "MT:2", 5.0),
            (batch, w2, "in", "erc1155", "MT:1", 2.0),
            (batch, w2, "in", "erc1155", "MT:2", 5.0),
            # side 1 = SELL: the maker gives 2.5 shares for 1.0 collateral
            (fill, w3, "sell", "polymarket_fill", "polymarket:77", 2.5),
            (matched, w3, "buy", "polymarket_match", "polymarket:77", 2.0),
        ]
    )
    assert next(t for t in run.trades if t.tx_hash == fill).counterparty == outsider
