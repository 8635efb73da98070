"""Topic filters, log decoding and range chunking: pure, no I/O."""

from __future__ import annotations

import msgspec
import pytest

from cryptoradar.config.evm import (
    POLYMARKET_ORDER_FILLED_V2,
    POLYMARKET_ORDERS_MATCHED_V2,
    ChainConfig,
    EvmConfig,
    PolymarketConfig,
    TokenInfo,
    WatchConfig,
    WatchedWallet,
)
from cryptoradar.sources.evm.logs import (
    TRANSFER_BATCH_TOPIC,
    TRANSFER_SINGLE_TOPIC,
    TRANSFER_TOPIC,
    DecodeContext,
    DecodeError,
    RpcLog,
    build_filters,
    decode_log,
    pad_address,
    topic_to_address,
)

W1 = "0xffcf8fdee72ac11b5c542428b35eef5769c409f0"
W2 = "0x" + "a1" * 20
OUT = "0x" + "0e" * 20
TOKEN = "0x" + "70" * 20
MULTI = "0x" + "71" * 20
EXCHANGE = "0x" + "72" * 20


def _config(wallets: tuple[str, ...] = (W1, W2), per_filter: int = 100, **watch: object) -> EvmConfig:
    return EvmConfig(
        chains=(ChainConfig(name="polygon", http_url="http://127.0.0.1:1"),),
        wallets=tuple(WatchedWallet(address=w, label=f"L{i}") for i, w in enumerate(wallets)),
        watch=WatchConfig.model_validate(
            {
                "erc20_tokens": (TOKEN,),
                "erc1155_contracts": (MULTI,),
                "polymarket": PolymarketConfig(exchanges=(EXCHANGE,), watch_orders_matched=True),
                "tokens": (
                    TokenInfo(address=TOKEN, symbol="USD", decimals=6),
                    TokenInfo(address=MULTI, symbol="CTF", decimals=6),
                ),
            }
            | watch
        ),
        wallets_per_filter=per_filter,
    )


def _ctx(config: EvmConfig | None = None) -> DecodeContext:
    config = config or _config()
    return DecodeContext.build(config, config.chains[0])


def _words(*values: int) -> str:
    return "0x" + "".join(format(v, "064x") for v in values)


def _log(address: str, topics: list[str], data: str, log_index: int = 3) -> RpcLog:
    return RpcLog(
        address=address,
        topics=topics,
        data=data,
        blockNumber="0x2a",
        transactionHash="0x" + "AB" * 32,
        logIndex=hex(log_index),
    )


def test_pad_address_is_lowercase_and_left_padded() -> None:
    assert pad_address("0xFFcf8FDEE72ac11b5c542428B35EEF5769C409f0") == (
        "0x000000000000000000000000ffcf8fdee72ac11b5c542428b35eef5769c409f0"
    )
    assert topic_to_address(pad_address(W1)) == W1
    with pytest.raises(ValueError, match="not an address"):
        pad_address("0x1234")


def test_filters_put_the_wallet_on_either_side_of_each_event() -> None:
    filters = build_filters(_config(), _config().chains[0])
    padded = sorted((pad_address(W1), pad_address(W2)))  # wallets are sorted for stable filters
    as_params = [f.to_params() for f in filters]
    assert as_params == [
        {"topics": [[TRANSFER_TOPIC], list(padded)], "address": [TOKEN]},
        {"topics": [[TRANSFER_TOPIC], None, list(padded)], "address": [TOKEN]},
        {"topics": [[TRANSFER_SINGLE_TOPIC, TRANSFER_BATCH_TOPIC], None, list(padded)], "address": [MULTI]},
        {
            "topics": [[TRANSFER_SINGLE_TOPIC, TRANSFER_BATCH_TOPIC], None, None, list(padded)],
            "address": [MULTI],
        },
        {
            "topics": [[POLYMARKET_ORDER_FILLED_V2, POLYMARKET_ORDERS_MATCHED_V2], None, list(padded)],
            "address": [EXCHANGE],
        },
    ]


def test_filters_batch_wallets_and_omit_an_empty_allow_list() -> None:
    wallets = tuple("0x" + format(i, "040x") for i in range(1, 6))
    config = _config(
        wallets, per_filter=2, erc20_tokens=(), erc1155=False, polymarket=PolymarketConfig(enabled=False)
    )
    filters = build_filters(config, config.chains[0])
    assert len(filters) == 6  # 3 batches (2, 2, 1) x from/to
    assert [len(f.topics[1] or f.topics[2] or ()) for f in filters] == [2, 2, 2, 2, 1, 1]
    assert all("address" not in f.to_params() for f in filters)


def test_default_polymarket_filter_uses_the_v2_order_filled_topic_only() -> None:
    config = EvmConfig(
        chains=(ChainConfig(name="polygon", http_url="http://127.0.0.1:1"),),
        wallets=(WatchedWallet(address=W1),),
    )
    pm = build_filters(config, config.chains[0])[-1]
    assert pm.topics[0] == (POLYMARKET_ORDER_FILLED_V2,)
    assert pm.addresses == (
        "0xe111180000d2663c0091e4f400237545b87b996b",
        "0xe2222d279d744050d28e00520010520000310f59",
    )


def test_erc20_transfer_between_two_watched_wallets_gives_one_trade_per_side() -> None:
    entry = _log(TOKEN, [TRANSFER_TOPIC, pad_address(W1), pad_address(W2)], _words(12_345_678))
    trades = decode_log(entry, _ctx(), ts_event_ns=1, ts_recv_ns=2)
    assert [(t.wallet, t.direction, t.counterparty, t.amount, t.token) for t in trades] == [
        (W1, "out", W2, 12.345678, "USD"),
        (W2, "in", W1, 12.345678, "USD"),
    ]
    assert trades[0].tx_hash == "0x" + "ab" * 32
    assert trades[0].log_index == 3
    assert trades[0].block_number == 42
    assert trades[0].wallet_label == "L0"
    assert not trades[0].removed


def test_erc721_transfer_with_four_topics_is_rejected() -> None:
    entry = _log(TOKEN, [TRANSFER_TOPIC, pad_address(W1), pad_address(OUT), _words(7)], "0x")
    with pytest.raises(DecodeError) as err:
        decode_log(entry, _ctx(), 0, 0)
    assert err.value.kind == "not_erc20"


def test_transfer_single() -> None:
    entry = _log(
        MULTI,
        [TRANSFER_SINGLE_TOPIC, pad_address(OUT), pad_address(OUT), pad_address(W2)],
        _words(99, 4_000_000),
    )
    (trade,) = decode_log(entry, _ctx(), 0, 0)
    assert (trade.wallet, trade.direction, trade.token, trade.amount, trade.kind) == (
        W2,
        "in",
        "CTF:99",
        4.0,
        "erc1155",
    )


def test_transfer_batch_decodes_both_arrays() -> None:
    # ids at offset 0x40, values at offset 0xa0: [len=2, 5, 6] and [len=2, 1e6, 3e6]
    data = _words(0x40, 0xA0, 2, 5, 6, 2, 1_000_000, 3_000_000)
    entry = _log(MULTI, [TRANSFER_BATCH_TOPIC, pad_address(W1), pad_address(W1), pad_address(OUT)], data)
    trades = decode_log(entry, _ctx(), 0, 0)
    assert [(t.token, t.amount, t.direction) for t in trades] == [
        ("CTF:5", 1.0, "out"),
        ("CTF:6", 3.0, "out"),
    ]


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (_words(0x40, 0xA0, 2, 5, 6, 1, 1), "bad_data"),  # values shorter than ids / runs past the end
        (_words(0x41, 0xA0), "bad_data"),  # misaligned offset
        ("0x1234", "bad_data"),  # not whole words
    ],
)
def test_malformed_transfer_batch_is_a_decode_error(data: str, kind: str) -> None:
    entry = _log(MULTI, [TRANSFER_BATCH_TOPIC, pad_address(W1), pad_address(W1), pad_address(OUT)], data)
    with pytest.raises(DecodeError) as err:
        decode_log(entry, _ctx(), 0, 0)
    assert err.value.kind == kind


def test_polymarket_v2_order_filled_buy_and_sell() -> None:
    order_hash = "0x" + "99" * 32
    builder = metadata = 0
    buy = _log(
        EXCHANGE,
        [POLYMARKET_ORDER_FILLED_V2, order_hash, pad_address(W1), pad_address(OUT)],
        _words(0, 1234, 600_000, 1_500_000, 10, builder, metadata),
    )
    (trade,) = decode_log(buy, _ctx(), 0, 0)
    assert (trade.direction, trade.kind, trade.token, trade.amount, trade.counterparty) == (
        "buy",
        "polymarket_fill",
        "polymarket:1234",
        1.5,
        OUT,
    )
    sell = _log(
        EXCHANGE,
        [POLYMARKET_ORDER_FILLED_V2, order_hash, pad_address(W1), pad_address(EXCHANGE)],
        _words(1, 1234, 2_000_000, 900_000, 0, builder, metadata),
    )
    (trade,) = decode_log(sell, _ctx(), 0, 0)
    assert (trade.direction, trade.amount, trade.counterparty) == ("sell", 2.0, EXCHANGE)


def test_polymarket_fill_of_an_unwatched_maker_gives_nothing_and_bad_side_is_an_error() -> None:
    other = _log(
        EXCHANGE,
        [POLYMARKET_ORDER_FILLED_V2, "0x" + "00" * 32, pad_address(OUT), pad_address(W1)],
        _words(0, 1, 1, 1, 0, 0, 0),
    )
    assert decode_log(other, _ctx(), 0, 0) == []
    bad = _log(
        EXCHANGE,
        [POLYMARKET_ORDER_FILLED_V2, "0x" + "00" * 32, pad_address(W1), pad_address(OUT)],
        _words(2, 1, 1, 1, 0, 0, 0),
    )
    with pytest.raises(DecodeError):
        decode_log(bad, _ctx(), 0, 0)


def test_polymarket_orders_matched() -> None:
    entry = _log(
        EXCHANGE,
        [POLYMARKET_ORDERS_MATCHED_V2, "0x" + "01" * 32, pad_address(W2)],
        _words(0, 8, 3_000_000, 4_000_000),
    )
    (trade,) = decode_log(entry, _ctx(), 0, 0)
    assert (trade.wallet, trade.direction, trade.kind, trade.amount, trade.counterparty) == (
        W2,
        "buy",
        "polymarket_match",
        4.0,
        EXCHANGE,
    )


def test_unknown_topic_and_bad_hex_are_decode_errors() -> None:
    with pytest.raises(DecodeError) as err:
        decode_log(_log(TOKEN, ["0x" + "12" * 32], "0x"), _ctx(), 0, 0)
    assert err.value.kind == "unknown_topic"
    entry = msgspec.structs.replace(
        _log(TOKEN, [TRANSFER_TOPIC, pad_address(W1), pad_address(OUT)], _words(1)), blockNumber="0xzz"
    )
    with pytest.raises(DecodeError) as err:
        decode_log(entry, _ctx(), 0, 0)
    assert err.value.kind == "bad_hex"


def test_config_rejects_bad_addresses_and_unknown_chains() -> None:
    with pytest.raises(ValueError, match="not an EVM address"):
        WatchedWallet(address="0x123")
    with pytest.raises(ValueError, match=r"not in evm\.chains"):
        EvmConfig(
            chains=(ChainConfig(name="polygon", http_url="http://x"),),
            wallets=(WatchedWallet(address=W1, chain="base"),),
        )
    with pytest.raises(ValueError, match="no usable endpoint"):
        ChainConfig(name="polygon", ws_url="ws://x", websocket_enabled=False)
    assert WatchedWallet(address=W1.upper().replace("0X", "0x")).address == W1
    with pytest.raises(ValueError, match="value not shown") as err:
        ChainConfig(name="polygon", ws_url="https://polygon.example/v2/SECRETKEY")
    assert "SECRETKEY" not in str(err.value)
    # URLs websockets itself refuses (its error would print the key on every reconnect) fail at load.
    for bad in ("wss://polygon.example/v2/SECRETKEY#x", "wss://user@polygon.example/v2/SECRETKEY"):
        with pytest.raises(ValueError, match="not a usable WebSocket URL") as err:
            ChainConfig(name="polygon", ws_url=bad)
        assert "SECRETKEY" not in str(err.value)
    assert ChainConfig(name="polygon", ws_url="wss://u:p@polygon.example/v2/KEY?x=1").ws_url is not None
    # Polling fallback: 15 s unless configured, never below 1 s.
    assert ChainConfig(name="polygon", http_url="http://x").fallback_polling_interval_s == 15.0
    assert (
        ChainConfig(
            name="polygon", http_url="http://x", fallback_polling_interval_s=1
        ).fallback_polling_interval_s
        == 1
    )
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        ChainConfig(name="polygon", http_url="http://x", fallback_polling_interval_s=0.5)
