"""Exactly-once logic of `LogProcessor` and chunked `eth_getLogs`, with in-memory stand-ins for I/O."""

from __future__ import annotations

import msgspec
import pytest

from cryptoradar.config.evm import ChainConfig, EvmConfig, WatchConfig, WatchedWallet
from cryptoradar.core.clock import ManualClock
from cryptoradar.events import Event, WalletTrade
from cryptoradar.sources.evm.logs import TRANSFER_TOPIC, DecodeContext, LogFilter, RpcLog, pad_address
from cryptoradar.sources.evm.processor import LogProcessor
from cryptoradar.sources.evm.rpc import LogFetcher, RpcError

W = "0x" + "11" * 20
TOKEN = "0x" + "33" * 20


class MemoryStore:
    def __init__(self) -> None:
        self.cursor: tuple[int, int] | None = None
        self.seen: dict[tuple[str, int], int] = {}

    async def load_cursor(self, chain: str) -> tuple[int, int] | None:
        return self.cursor

    async def save_cursor(self, chain: str, last_processed_block: int) -> None:
        first = self.cursor[1] if self.cursor else last_processed_block
        self.cursor = (last_processed_block, first)

    async def load_seen(self, chain: str, since_block: int) -> set[tuple[str, int]]:
        return {k for k, b in self.seen.items() if b >= since_block}

    async def mark_seen(self, chain: str, tx_hash: str, log_index: int, block_number: int) -> None:
        self.seen[(tx_hash, log_index)] = block_number

    async def forget_seen(self, chain: str, tx_hash: str, log_index: int) -> None:
        self.seen.pop((tx_hash, log_index), None)

    async def prune_seen(self, chain: str, below_block: int) -> int:
        old = [k for k, b in self.seen.items() if b < below_block]
        for k in old:
            del self.seen[k]
        return len(old)


def _processor(store: MemoryStore, out: list[Event], confirmations: int = 0) -> LogProcessor:
    config = EvmConfig(
        chains=(ChainConfig(name="polygon", http_url="http://127.0.0.1:1", confirmations=confirmations),),
        wallets=(WatchedWallet(address=W),),
        watch=WatchConfig(erc20_tokens=(TOKEN,)),
    )

    async def emit(event: Event) -> None:
        out.append(event)

    return LogProcessor(DecodeContext.build(config, config.chains[0]), store, emit, ManualClock(10**18), 1000)


def _log(tx_byte: int, block: int, index: int = 0, removed: bool = False) -> RpcLog:
    return RpcLog(
        address=TOKEN,
        topics=[TRANSFER_TOPIC, pad_address(W), pad_address("0x" + "22" * 20)],
        data="0x" + format(1, "064x"),
        blockNumber=hex(block),
        transactionHash="0x" + format(tx_byte, "02x") * 32,
        logIndex=hex(index),
        removed=removed,
    )


async def test_duplicates_across_paths_and_restarts_are_dropped() -> None:
    store, out = MemoryStore(), list[Event]()
    p = _processor(store, out)
    await p.start()
    await p.on_logs([_log(1, 10), _log(2, 11)], "ws", 0)
    await p.on_logs([_log(1, 10), _log(2, 11), _log(3, 12)], "backfill", 0)
    assert [t.tx_hash[2:4] for t in out if isinstance(t, WalletTrade)] == ["01", "02", "03"]
    assert p.duplicates_total == 2
    await p.advance_cursor(12)

    again: list[Event] = []
    restarted = _processor(store, again)
    await restarted.start()
    assert restarted.cursor == 12
    await restarted.on_logs([_log(3, 12), _log(4, 13)], "backfill", 0)
    assert [t.tx_hash[2:4] for t in again if isinstance(t, WalletTrade)] == ["04"]


async def test_cursor_only_moves_forward_and_a_bad_log_does_not_stop_the_stream() -> None:
    store, out = MemoryStore(), list[Event]()
    p = _processor(store, out)
    await p.start()
    await p.advance_cursor(20)
    await p.advance_cursor(15)
    assert p.cursor == 20
    assert store.cursor == (20, 20)
    bad = msgspec.structs.replace(_log(5, 21), data="0x12")
    await p.on_logs([bad, _log(6, 21)], "poll", 0)
    assert [t.tx_hash[2:4] for t in out if isinstance(t, WalletTrade)] == ["06"]


async def test_removed_log_retracts_once_and_forgets_the_key() -> None:
    store, out = MemoryStore(), list[Event]()
    p = _processor(store, out)
    await p.start()
    await p.on_logs([_log(1, 10)], "ws", 0)
    await p.on_logs([_log(1, 10, removed=True)], "ws", 0)
    await p.on_logs([_log(1, 10, removed=True)], "ws", 0)
    assert [t.removed for t in out if isinstance(t, WalletTrade)] == [False, True]
    assert store.seen == {}


async def test_confirmation_gate_holds_then_releases_in_block_order() -> None:
    store, out = MemoryStore(), list[Event]()
    p = _processor(store, out, confirmations=3)
    await p.start()
    await p.on_logs([_log(2, 11), _log(1, 10)], "ws", 0)
    await p.on_head(11, 0, live_synced=True)
    assert out == []
    assert p.cursor == 9, "the cursor must stay below the oldest held log"
    await p.on_head(14, 0, live_synced=True)
    assert [t.block_number for t in out if isinstance(t, WalletTrade)] == [10, 11]
    assert p.cursor == 13


class RangeLimitedRpc:
    """Refuses eth_getLogs ranges wider than `max_blocks`, like a free-tier provider."""

    def __init__(self, max_blocks: int) -> None:
        self.max_blocks = max_blocks
        self.ranges: list[tuple[int, int]] = []

    async def call(self, method: str, params: list[object]) -> msgspec.Raw:
        assert method == "eth_getLogs"
        flt = params[0]
        assert isinstance(flt, dict)
        start, end = int(flt["fromBlock"], 16), int(flt["toBlock"], 16)
        if end - start + 1 > self.max_blocks:
            raise RpcError(method, -32005, "query exceeds max block range")
        self.ranges.append((start, end))
        return msgspec.Raw(msgspec.json.encode([_log(start % 256, start)]))


async def test_fetcher_chunks_and_shrinks_on_range_errors() -> None:
    rpc = RangeLimitedRpc(max_blocks=10)
    fetcher = LogFetcher(chunk_blocks=64)
    flt = LogFilter((TOKEN,), ((TRANSFER_TOPIC,),))
    logs = await fetcher.fetch(rpc, flt, 100, 135)
    assert fetcher.chunk_blocks == 8
    assert rpc.ranges == [(100, 107), (108, 115), (116, 123), (124, 131), (132, 135)]
    assert len(logs) == 5
    assert await fetcher.fetch(rpc, flt, 136, 136)
    assert rpc.ranges[-1] == (136, 136)


async def test_fetcher_gives_up_on_other_errors() -> None:
    class Broken:
        async def call(self, method: str, params: list[object]) -> msgspec.Raw:
            raise RpcError(method, -32000, "header not found")

    with pytest.raises(RpcError):
        await LogFetcher(16).fetch(Broken(), LogFilter((), ((TRANSFER_TOPIC,),)), 1, 2)
