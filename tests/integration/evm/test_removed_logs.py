"""Reorged logs (`removed: true`) retract trades; a confirmation depth holds logs back until deep enough.

ganache cannot reorg: `fake_node.FakeNode` plays the node and pushes crafted notifications over a real socket.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from evm_harness import MonitorRun
from fake_node import WALLET, FakeNode, fake_evm_config, fake_node
from websockets.asyncio.server import Server

from conftest import eventually
from cryptoradar.core.clock import SystemClock
from cryptoradar.events import Event
from cryptoradar.sources.evm.monitor import WalletMonitor
from cryptoradar.storage.evm_sqlite import SqliteWalletStore

__all__ = ["fake_node"]  # fixture


async def _start(
    fake: tuple[FakeNode, Server], tmp_path: Path, confirmations: int, use_finalized_tag: bool = False
) -> tuple[MonitorRun, SqliteWalletStore]:
    node, server = fake
    config = fake_evm_config(server, confirmations=confirmations, use_finalized_tag=use_finalized_tag)
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
