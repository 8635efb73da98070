"""Native pseudo-logs, pending trades and explorer rows: pure conversions, no I/O."""

from __future__ import annotations

import msgspec
import pytest
from pydantic import SecretStr

from cryptoradar.config.evm import ChainConfig, EvmConfig, TokenInfo, WatchConfig, WatchedWallet
from cryptoradar.sources.evm.explorer import BadExplorerRow, ExplorerTokenTx, to_rpc_log
from cryptoradar.sources.evm.logs import DecodeContext, TradeKind, decode_log
from cryptoradar.sources.evm.native import RpcBlock, RpcTx, native_logs, pending_trade

W1 = "0x" + "a1" * 20
W2 = "0x" + "a2" * 20
OUT = "0x" + "0e" * 20
TOKEN = "0x" + "70" * 20
ETHER = 10**18


def _ctx() -> DecodeContext:
    config = EvmConfig(
        chains=(ChainConfig(name="polygon", http_url=SecretStr("http://127.0.0.1:1"), native_symbol="POL"),),
        wallets=(
            WatchedWallet(address=W1, label="one", chain="polygon", pending_transactions=True),
            WatchedWallet(address=W2, label="two", chain="polygon"),
        ),
        watch=WatchConfig(
            erc20_tokens=(TOKEN,), tokens=(TokenInfo(address=TOKEN, symbol="pUSD", decimals=6),)
        ),
    )
    return DecodeContext.build(config, config.chains[0])


def _tx(tx_hash: str, sender: str, to: str | None, value: int, block: str | None = "0x10") -> RpcTx:
    return msgspec.convert(
        {"hash": tx_hash, "from": sender, "to": to, "value": hex(value), "blockNumber": block}, RpcTx
    )


def test_native_logs_keep_watched_value_transfers_only() -> None:
    block = RpcBlock(
        number="0x10",
        timestamp="0x6b000000",
        transactions=[
            _tx("0x01", W1, OUT, ETHER),  # out
            _tx("0x02", OUT, W2, 2 * ETHER),  # in
            _tx("0x03", W1, W2, 5 * ETHER),  # between two watched wallets: one log, two trades
            _tx("0x04", W1, TOKEN, 0),  # a contract call without value
            _tx("0x05", W1, None, ETHER),  # contract creation
            _tx("0x06", OUT, OUT, ETHER),  # not ours
        ],
    )
    ctx = _ctx()
    logs = native_logs(block, frozenset(ctx.wallets))
    trades = [t for entry in logs for t in decode_log(entry, ctx, 1, 2)]
    assert [(t.tx_hash, t.wallet, t.direction, t.amount) for t in trades] == [
        ("0x01", W1, "out", 1.0),
        ("0x02", W2, "in", 2.0),
        ("0x03", W1, "out", 5.0),
        ("0x03", W2, "in", 5.0),
    ]
    assert all(t.kind == TradeKind.NATIVE and t.token == "POL" and t.log_index == -1 for t in trades)
    assert all(t.block_number == 0x10 for t in trades)


def test_pending_trade_only_for_senders_that_asked_and_only_while_pending() -> None:
    ctx = _ctx()
    senders = frozenset(a for a, w in ctx.wallets.items() if w.pending_transactions)
    trade = pending_trade(_tx("0xAA", W1, OUT, 3 * ETHER, block=None), ctx, senders, 7)
    assert trade is not None
    assert (trade.kind, trade.wallet, trade.amount, trade.tx_hash, trade.log_index) == (
        TradeKind.PENDING_TX,
        W1,
        3.0,
        "0xaa",
        -1,
    )
    assert pending_trade(_tx("0xAA", W1, OUT, ETHER, block="0x11"), ctx, senders, 7) is None  # mined
    assert pending_trade(_tx("0xAB", W2, OUT, ETHER, block=None), ctx, senders, 7) is None  # not asked


def _row(**fields: str) -> ExplorerTokenTx:
    base = {
        "blockNumber": "101",
        "timeStamp": "1767225600",
        "hash": "0x" + "AB" * 32,
        "from": W1,
        "to": OUT,
        "contractAddress": TOKEN,
        "value": "2500000",
        "logIndex": "7",
        "tokenSymbol": "pUSD",
    }
    return msgspec.convert(base | fields, ExplorerTokenTx)


def test_explorer_row_becomes_the_same_log_the_node_would_return() -> None:
    entry = to_rpc_log(_row())
    (trade,) = decode_log(entry, _ctx(), 1, 2)
    assert (entry.blockNumber, entry.logIndex, entry.blockTimestamp) == ("0x65", "0x7", hex(1767225600))
    assert (trade.tx_hash, trade.log_index, trade.direction, trade.amount, trade.token) == (
        "0x" + "ab" * 32,
        7,
        "out",
        2.5,
        "pUSD",
    )


@pytest.mark.parametrize(
    "fields",
    [{"logIndex": ""}, {"value": "lots"}, {"from": "0x12"}],
    ids=["no-log-index", "value", "address"],
)
def test_explorer_rows_that_cannot_be_logs_are_refused(fields: dict[str, str]) -> None:
    with pytest.raises(BadExplorerRow):
        to_rpc_log(_row(**fields))
