"""Reorged logs (`removed: true`) retract trades; a confirmation depth holds logs back until deep enough.

ganache cannot reorg, so a small JSON-RPC WebSocket server here plays the node and pushes crafted
notifications over a real socket.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from evm_harness import MonitorRun
from pydantic import SecretStr
from websockets.asyncio.server import Server, ServerConnection, serve

from conftest import eventually
from cryptoradar.config.evm import ChainConfig, EvmConfig, WatchConfig, WatchedWallet
from cryptoradar.core.clock import SystemClock
from cryptoradar.events import Event
from cryptoradar.sources.evm.logs import TRANSFER_TOPIC, pad_address
from cryptoradar.sources.evm.monitor import WalletMonitor
from cryptoradar.storage.evm_sqlite import SqliteWalletStore

WALLET = "0x" + "11" * 20
OTHER = "0x" + "22" * 20
TOKEN = "0x" + "33" * 20


@dataclass
class FakeNode:
    """Answers subscribe/blockNumber/getLogs; `push_*` send notifications to the connected monitor."""

    head: int = 0x10
    finalized: int = 0x10
    conn: ServerConnection | None = None
    subs: dict[str, str] = field(default_factory=dict)
    """subscription id -> kind ("newHeads" or "logs")"""
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def handle(self, conn: ServerConnection) -> None:
        self.conn = conn
        async for message in conn:
            request = json.loads(message)
            method, params = request["method"], request["params"]
            result: object
            if method == "eth_subscribe":
                result = hex(next(self.ids))
                self.subs[str(result)] = params[0]
            elif method == "eth_blockNumber":
                result = hex(self.head)
            elif method == "eth_getLogs":
                result = []
            elif method == "eth_getBlockByNumber":
                result = {"number": hex(self.finalized if params[0] == "finalized" else self.head)}
            else:
                result = None
            await conn.send(json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": result}))

    async def _push(self, kind: str, result: object) -> None:
        assert self.conn is not None
        sub = next(s for s, k in self.subs.items() if k == kind)
        await self.conn.send(
            json.dumps(
                {
                    "jsonrpc": "2.0",
                    "method": "eth_subscription",
                    "params": {"subscription": sub, "result": result},
                }
            )
        )

    async def push_log(self, tx: str, block: int, removed: bool, log_index: int = 0) -> None:
        await self._push(
            "logs",
            {
                "address": TOKEN,
                "topics": [TRANSFER_TOPIC, pad_address(WALLET), pad_address(OTHER)],
                "data": "0x" + format(5_000_000, "064x"),
                "blockNumber": hex(block),
                "blockHash": "0x" + format(block, "064x"),
                "transactionHash": tx,
                "transactionIndex": "0x0",
                "logIndex": hex(log_index),
                "removed": removed,
            },
        )

    async def push_head(self, number: int) -> None:
        self.head = number
        await self._push(
            "newHeads",
            {"number": hex(number), "hash": "0x" + format(number, "064x"), "timestamp": "0x6b000000"},
        )

    async def push_raw(self, text: str) -> None:
        assert self.conn is not None
        await self.conn.send(text)


@pytest.fixture
async def fake_node() -> AsyncIterator[tuple[FakeNode, Server]]:
    node = FakeNode()
    async with serve(node.handle, "127.0.0.1", 0) as server:
        yield node, server


async def _start(
    fake: tuple[FakeNode, Server], tmp_path: Path, confirmations: int, use_finalized_tag: bool = False
) -> tuple[MonitorRun, SqliteWalletStore]:
    node, server = fake
    port = next(iter(server.sockets)).getsockname()[1]
    config = EvmConfig(
        enabled=True,
        chains=(
            ChainConfig(
                name="polygon",
                ws_url=SecretStr(f"ws://127.0.0.1:{port}"),
                block_time_hint_s=30.0,
                confirmations=confirmations,
                use_finalized_tag=use_finalized_tag,
            ),
        ),
        wallets=(WatchedWallet(address=WALLET, label="whale", chain="polygon"),),
        watch=WatchConfig(erc20_tokens=(TOKEN,)),
    )
    store = await SqliteWalletStore.open(tmp_path / "db.sqlite")
    events: list[Event] = []

    async def emit(event: Event) -> None:
        events.append(event)

    monitor = WalletMonitor(config, store, emit, SystemClock())
    run = MonitorRun(monitor, asyncio.create_task(monitor.run()), events)
    await run.ready()
    await eventually(lambda: len(node.subs) >= 2, what="subscriptions")
    return run, store


async def test_removed_log_retracts_and_reinclusion_reports_again(
    fake_node: tuple[FakeNode, Server], tmp_path: Path
) -> None:
    node, _ = fake_node
    run, store = await _start(fake_node, tmp_path, confirmations=0)
    tx = "0x" + "ab" * 32
    try:
        await node.push_log(tx, 0x11, removed=False)
        await eventually(lambda: len(run.trades) == 1, what="trade")
        await node.push_raw("{not json")
        await node.push_log(tx, 0x11, removed=True)
        await eventually(lambda: len(run.trades) == 2, what="retraction")
        # The same transaction re-included in the new chain is a trade again, not a duplicate.
        await node.push_log(tx, 0x12, removed=False)
        await eventually(lambda: len(run.trades) == 3, what="re-inclusion")
        # A removal of a log never reported retracts nothing; a repeat of the live log is dropped.
        await node.push_log("0x" + "cd" * 32, 0x12, removed=True)
        await node.push_log(tx, 0x12, removed=False)
        await node.push_head(0x13)
        await eventually(lambda: (run.polygon.processor.cursor or 0) >= 0x12, what="head processed")
    finally:
        await run.stop()
        await store.close()

    assert [t.removed for t in run.trades] == [False, True, False]
    assert all(t.tx_hash == tx and t.wallet == WALLET and t.direction == "out" for t in run.trades)
    assert [t.block_number for t in run.trades] == [0x11, 0x11, 0x12]
    assert run.trades[1].amount == 5.0 * 10**-12  # unknown token: 18 decimals


async def test_confirmations_hold_logs_until_deep_enough(
    fake_node: tuple[FakeNode, Server], tmp_path: Path
) -> None:
    node, _ = fake_node
    run, store = await _start(fake_node, tmp_path, confirmations=2)
    kept, reorged = "0x" + "01" * 32, "0x" + "02" * 32
    try:
        await node.push_log(kept, 0x11, removed=False)
        await node.push_log(reorged, 0x11, removed=False, log_index=1)
        await node.push_head(0x11)
        await node.push_log(reorged, 0x11, removed=True, log_index=1)
        await node.push_head(0x12)
        await eventually(lambda: run.polygon.last_head == 0x12, what="head 0x12 processed")
        cursor_before = run.polygon.processor.cursor
        assert run.trades == [], "a log 1 block deep must wait for 2 confirmations"
        await node.push_head(0x13)
        await eventually(lambda: len(run.trades) == 1, what="confirmed trade")
        await node.push_head(0x14)
        await eventually(lambda: (run.polygon.processor.cursor or 0) >= 0x13, what="cursor moves on")
    finally:
        await run.stop()
        await store.close()

    assert cursor_before is not None
    assert cursor_before < 0x11, "cursor must not pass a held log"
    assert [(t.tx_hash, t.removed) for t in run.trades] == [(kept, False)]


async def test_finalized_tag_holds_logs_until_the_finalized_block_passes_them(
    fake_node: tuple[FakeNode, Server], tmp_path: Path
) -> None:
    node, _ = fake_node
    run, store = await _start(fake_node, tmp_path, confirmations=0, use_finalized_tag=True)
    tx = "0x" + "0f" * 32
    try:
        await node.push_log(tx, 0x11, removed=False)
        await node.push_head(0x12)
        await node.push_head(0x13)
        await eventually(lambda: run.polygon.last_head == 0x13, what="heads processed")
        assert run.trades == [], "finalized is still 0x10"
        node.finalized = 0x11
        await node.push_head(0x14)
        await eventually(lambda: len(run.trades) == 1, what="finalized trade")
    finally:
        await run.stop()
        await store.close()
    assert run.trades[0].tx_hash == tx
