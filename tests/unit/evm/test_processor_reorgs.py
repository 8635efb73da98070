"""`LogProcessor`'s reorg memory: which blocks the monitor re-checks, what a replaced block retracts, and
that the memory stays bounded by the check depth on the WebSocket path too."""

from __future__ import annotations

import msgspec
from test_processor import MemoryStore, _log, _processor

from cryptoradar.events import Event, WalletTrade
from cryptoradar.sources.evm.logs import RpcLog

OLD, NEW = "0x" + "aa" * 32, "0x" + "bb" * 32


def _at(tx_byte: int, block: int, block_hash: str = OLD, index: int = 0) -> RpcLog:
    return msgspec.structs.replace(_log(tx_byte, block, index), blockHash=block_hash)


async def test_a_replaced_block_retracts_its_logs_once_and_only_those() -> None:
    store, out = MemoryStore(), list[Event]()
    p = _processor(store, out)
    await p.start()
    await p.on_logs([_at(1, 10), _at(2, 10, index=1), _at(3, 11, NEW)], "poll", 0)
    assert p.recent_blocks(0) == [10, 11]

    assert await p.drop_reorged(11, NEW, "poll") == 0, "same hash: nothing to do"
    assert await p.drop_reorged(10, NEW, "poll") == 2
    assert await p.drop_reorged(10, NEW, "poll") == 0, "retracted once"
    trades = [e for e in out if isinstance(e, WalletTrade)]
    assert [(t.tx_hash[2:4], t.removed) for t in trades] == [
        ("01", False), ("02", False), ("03", False), ("01", True), ("02", True)
    ]  # fmt: skip
    assert ("0x" + "01" * 32, 0) not in store.seen, "forgotten: a re-inclusion alerts again"
    await p.on_logs([_at(1, 12, NEW)], "poll", 0)
    assert [t.removed for t in out if isinstance(t, WalletTrade)][-1] is False


async def test_held_logs_of_a_replaced_block_are_dropped_silently() -> None:
    store, out = MemoryStore(), list[Event]()
    p = _processor(store, out, confirmations=5)
    await p.start()
    await p.on_logs([_at(1, 10)], "poll", 0)  # held: not deep enough
    assert p.recent_blocks(0) == [10]
    assert await p.drop_reorged(10, NEW, "poll") == 1
    assert out == []
    assert p.recent_blocks(0) == []


async def test_reorg_memory_is_bounded_by_the_check_depth_on_heads_alone() -> None:
    store, out = MemoryStore(), list[Event]()
    p = _processor(store, out)
    await p.start()
    for block in range(100, 200):
        await p.on_logs([_at(block % 256, block)], "ws", 0)
        await p.on_head(block + 1, 0, live_synced=True)
    depth = 32  # ChainConfig's default
    assert p.recent_blocks(0) == list(range(200 - depth, 200))
