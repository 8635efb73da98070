"""A small JSON-RPC WebSocket server that plays the node and pushes crafted notifications.

ganache cannot reorg, so tests that need `removed: true` logs (or a node that goes away on demand) use this
over a real socket.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from pydantic import SecretStr
from websockets.asyncio.server import Server, ServerConnection, serve

from cryptoradar.config.evm import ChainConfig, EvmConfig, WatchConfig, WatchedWallet
from cryptoradar.sources.evm.logs import TRANSFER_TOPIC, pad_address

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
    refuse: set[str] = field(default_factory=set)
    """Subscription kinds answered with "unsupported" (as providers without them do)."""
    txs: dict[str, dict[str, object]] = field(default_factory=dict)
    """eth_getTransactionByHash answers"""
    blocks: dict[int, list[dict[str, object]]] = field(default_factory=dict)
    """block number -> its transactions, for eth_getBlockByNumber(n, true); other blocks are empty"""

    async def handle(self, conn: ServerConnection) -> None:
        self.conn = conn
        self.subs = {}  # subscriptions belong to their connection
        async for message in conn:
            request = json.loads(message)
            method, params = request["method"], request["params"]
            result: object
            if method == "eth_subscribe" and params[0] in self.refuse:
                await conn.send(
                    json.dumps(
                        {
                            "jsonrpc": "2.0",
                            "id": request["id"],
                            "error": {"code": -32601, "message": "unsupported"},
                        }
                    )
                )
                continue
            if method == "eth_subscribe":
                result = hex(next(self.ids))
                self.subs[str(result)] = params[0]
            elif method == "eth_blockNumber":
                result = hex(self.head)
            elif method == "eth_getLogs":
                result = []
            elif method == "eth_getBlockByNumber" and params[0] in ("finalized", "latest"):
                result = {"number": hex(self.finalized if params[0] == "finalized" else self.head)}
            elif method == "eth_getBlockByNumber":
                number = int(params[0], 16)
                result = {
                    "number": params[0],
                    "hash": "0x" + format(number, "064x"),
                    "timestamp": "0x6b000000",
                    "transactions": self.blocks.get(number, []),
                }
            elif method == "eth_getTransactionByHash":
                result = self.txs.get(params[0])
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

    async def push_pending(self, tx_hash: str) -> None:
        await self._push("newPendingTransactions", tx_hash)

    async def push_raw(self, text: str) -> None:
        assert self.conn is not None
        await self.conn.send(text)


@pytest.fixture
async def fake_node() -> AsyncIterator[tuple[FakeNode, Server]]:
    node = FakeNode()
    async with serve(node.handle, "127.0.0.1", 0) as server:
        yield node, server


def fake_evm_config(
    server: Server, *, pending_transactions: bool = False, **chain_fields: object
) -> EvmConfig:
    """One chain on the fake node (watchdog effectively off: 30 s blocks) and one watched wallet, WALLET
    (`pending_transactions` turns it on for both the chain and the wallet)."""
    port = next(iter(server.sockets)).getsockname()[1]
    fields: dict[str, object] = {
        "name": "polygon",
        "ws_url": SecretStr(f"ws://127.0.0.1:{port}"),
        "block_time_hint_s": 30.0,
        "open_timeout_s": 1.0,
        "request_timeout_s": 2.0,
    }
    fields.update(chain_fields)
    if pending_transactions:
        fields["pending_transactions"] = True
    wallet = WatchedWallet(
        address=WALLET, label="whale", chain="polygon", pending_transactions=pending_transactions
    )
    return EvmConfig(
        enabled=True,
        chains=(ChainConfig.model_validate(fields),),
        wallets=(wallet,),
        watch=WatchConfig(erc20_tokens=(TOKEN,)),
    )
