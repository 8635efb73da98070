"""The explorer-API poller as the last resort: used only while JSON-RPC fails, within its rate limit, and
its trades de-duplicate against the RPC path on (chain, tx hash, log index).

A loopback aiohttp server plays both the explorer (`GET /api`, Etherscan v2 `tokentx` reply shape) and the
JSON-RPC HTTP endpoint (`POST /rpc`, down with 503 until the test brings it up).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from evm_harness import MonitorFactory, start_monitor
from pydantic import SecretStr

from conftest import eventually
from cryptoradar.config.evm import (
    ChainConfig,
    EvmConfig,
    ExplorerApiConfig,
    PolymarketConfig,
    TokenInfo,
    WatchConfig,
    WatchedWallet,
)
from cryptoradar.sources.evm.logs import TRANSFER_TOPIC, pad_address

__all__ = ["start_monitor"]  # fixture

W1 = "0x" + "a1" * 20
W2 = "0x" + "a2" * 20
OUTSIDER = "0x" + "ee" * 20
TOKEN = "0x" + "3c" * 20
SPAM = "0x" + "5b" * 20
API_KEY = "test-key-123"
CALLS_PER_S = 4.0


def _row(
    block: int, tx: str, sender: str, to: str, value: int, log_index: int | None, token: str = TOKEN
) -> dict[str, str]:
    """A tokentx row as Etherscan v2 returns it (decimal strings, its own field names)."""
    row = {
        "blockNumber": str(block),
        "timeStamp": "1767225600",
        "hash": tx,
        "nonce": "3",
        "blockHash": "0x" + format(block, "064x"),
        "from": sender,
        "contractAddress": token,
        "to": to,
        "value": str(value),
        "tokenName": "Polymarket USD",
        "tokenSymbol": "pUSD",
        "tokenDecimal": "6",
        "transactionIndex": "4",
        "gas": "90000",
        "gasPrice": "30000000000",
        "gasUsed": "52211",
        "cumulativeGasUsed": "1500000",
        "input": "deprecated",
        "methodId": "0xa9059cbb",
        "functionName": "transfer(address _to, uint256 _value)",
        "confirmations": "12",
    }
    if log_index is not None:
        row["logIndex"] = str(log_index)
    return row


TX_OUT = "0x" + "01" * 32
TX_IN = "0x" + "02" * 32
TX_LATER = "0x" + "03" * 32


@dataclass
class Stub:
    rows: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    """wallet -> rows the explorer lists for it"""
    explorer_calls: list[tuple[float, dict[str, str]]] = field(default_factory=list)
    rate_limited_once: bool = False
    rpc_up: bool = False
    rpc_logs: list[dict[str, Any]] = field(default_factory=list)

    async def explorer(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        self.explorer_calls.append((asyncio.get_running_loop().time(), query))
        if not self.rate_limited_once:
            self.rate_limited_once = True
            return web.json_response({"status": "0", "message": "NOTOK", "result": "Max rate limit reached"})
        start = int(query["startblock"])
        rows = [r for r in self.rows.get(query["address"], []) if int(r["blockNumber"]) >= start]
        if not rows:
            return web.json_response({"status": "0", "message": "No transactions found", "result": []})
        return web.json_response({"status": "1", "message": "OK", "result": rows})

    async def rpc(self, request: web.Request) -> web.Response:
        if not self.rpc_up:
            return web.Response(status=503)
        call = json.loads(await request.read())
        result: object = hex(110) if call["method"] == "eth_blockNumber" else None
        if call["method"] == "eth_getLogs":
            flt = call["params"][0]
            lo, hi = int(flt["fromBlock"], 16), int(flt["toBlock"], 16)
            # Return each log to the filter whose wallet position matches (from = W or to = W).
            position = 1 if len(flt["topics"]) == 2 else 2
            wanted = set(flt["topics"][position])
            result = [
                e
                for e in self.rpc_logs
                if lo <= int(e["blockNumber"], 16) <= hi
                and e["topics"][0] in flt["topics"][0]
                and e["topics"][position] in wanted
            ]
        return web.json_response({"jsonrpc": "2.0", "id": call["id"], "result": result})


@pytest.fixture
async def stub() -> AsyncIterator[tuple[Stub, str]]:
    s = Stub()
    app = web.Application()
    app.router.add_get("/api", s.explorer)
    app.router.add_post("/rpc", s.rpc)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield s, f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


def _config(base: str) -> EvmConfig:
    chain = ChainConfig(
        name="polygon",
        http_url=SecretStr(f"{base}/rpc"),
        websocket_enabled=False,
        fallback_polling_interval_s=1.0,
        request_timeout_s=2.0,
        start_block=100,
        explorer_api=ExplorerApiConfig(
            base_url=f"{base}/api", api_key=SecretStr(API_KEY), calls_per_s=CALLS_PER_S, poll_interval_s=1.0
        ),
    )
    return EvmConfig(
        enabled=True,
        chains=(chain,),
        wallets=(
            WatchedWallet(address=W1, label="one", chain="polygon"),
            WatchedWallet(address=W2, label="two", chain="polygon"),
        ),
        watch=WatchConfig(
            erc20_tokens=(TOKEN,),
            erc1155=False,
            polymarket=PolymarketConfig(enabled=False),
            tokens=(TokenInfo(address=TOKEN, symbol="pUSD", decimals=6),),
        ),
    )


def _rpc_log(block: int, tx: str, sender: str, to: str, value: int, log_index: int) -> dict[str, Any]:
    return {
        "address": TOKEN,
        "topics": [TRANSFER_TOPIC, pad_address(sender), pad_address(to)],
        "data": "0x" + format(value, "064x"),
        "blockNumber": hex(block),
        "blockHash": "0x" + format(block, "064x"),
        "transactionHash": tx,
        "transactionIndex": "0x4",
        "logIndex": hex(log_index),
        "removed": False,
    }


async def test_explorer_serves_while_rpc_is_down_and_dedups_against_rpc(
    stub: tuple[Stub, str], start_monitor: MonitorFactory
) -> None:
    s, base = stub
    s.rows = {
        W1: [
            _row(101, TX_OUT, W1, OUTSIDER, 2_500_000, 7),
            _row(102, "0x" + "0b" * 32, W1, OUTSIDER, 1, None),  # no logIndex: cannot be deduped
            _row(102, "0x" + "0c" * 32, W1, OUTSIDER, 1, 1, token=SPAM),  # not on the allow-list
        ],
        W2: [_row(103, TX_IN, OUTSIDER, W2, 4_000_000, 0)],
    }
    run = await start_monitor(_config(base))
    await eventually(lambda: len(run.trades) == 2, timeout_s=15, what="explorer trades")
    assert run.polygon.polls == 0, "no JSON-RPC poll succeeded: these came from the explorer"

    # JSON-RPC comes back; its getLogs lists the explorer's transfer again plus a new one.
    s.rpc_logs = [
        _rpc_log(101, TX_OUT, W1, OUTSIDER, 2_500_000, 7),
        _rpc_log(105, TX_LATER, OUTSIDER, W1, 1_000_000, 2),
    ]
    s.rpc_up = True
    await eventually(lambda: run.polygon.polls >= 2, timeout_s=10, what="RPC polls succeed")
    explorer_calls = len(s.explorer_calls)
    polls = run.polygon.polls
    await eventually(lambda: run.polygon.polls >= polls + 2, timeout_s=10, what="2 more RPC polls")

    got = sorted((t.tx_hash, t.wallet, t.direction, t.amount, t.token) for t in run.trades)
    assert got == sorted(
        [
            (TX_OUT, W1, "out", 2.5, "pUSD"),
            (TX_IN, W2, "in", 4.0, "pUSD"),
            (TX_LATER, W1, "in", 1.0, "pUSD"),
        ]
    )
    assert len(s.explorer_calls) == explorer_calls, "the explorer must rest while JSON-RPC serves"
    queries = [q for _, q in s.explorer_calls]
    assert all(q["module"] == "account" and q["action"] == "tokentx" for q in queries)
    assert all(q["apikey"] == API_KEY and q["chainid"] == "137" and q["sort"] == "asc" for q in queries)
    assert {q["address"] for q in queries} == {W1, W2}
    times = [t for t, _ in s.explorer_calls]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # The token bucket spaces calls by 1/calls_per_s at least (a slow machine only widens the gaps).
    assert min(gaps) >= 0.8 / CALLS_PER_S, f"explorer called faster than {CALLS_PER_S}/s: {gaps}"
