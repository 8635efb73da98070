"""REST bodies: klines (closed vs in-progress), 24h tickers, exchangeInfo, premiumIndex, fundingRate."""

from __future__ import annotations

import json

import pytest
from ws_session_frames import parse_errors

from cryptoradar.events import Market
from cryptoradar.sources.binance.parse import (
    WireFormatError,
    decode_exchange_info,
    decode_funding_rates,
    decode_premium_index,
    parse_rest_klines,
    parse_rest_tickers_24h,
)

ROW_1 = [1767225600000, "87412.01", "87480.00", "87400.10", "87455.30", "18.73412", 1767225659999,
         "1637820.44123", 1335, "10.112", "884112.90511", "0"]  # fmt: skip
ROW_2 = [1767225660000, "87455.30", "87460.00", "87450.00", "87451.00", "1.5", 1767225719999,
         "131177.0", 12, "0.5", "43725.5", "0"]  # fmt: skip


def test_klines_closed_flag_from_now() -> None:
    body = json.dumps([ROW_1, ROW_2]).encode()
    bars = parse_rest_klines(body, Market.SPOT, "BTCUSDT", "1m", now_ms=1767225700000, ts_recv_ns=9)
    assert [b.closed for b in bars] == [True, False]
    first = bars[0]
    assert (first.open_time_ms, first.close_time_ms, first.trades) == (1767225600000, 1767225659999, 1335)
    assert (first.open, first.high, first.low, first.close) == (87412.01, 87480.0, 87400.1, 87455.3)
    assert (first.volume, first.quote_volume) == (18.73412, 1637820.44123)
    assert (first.taker_buy_volume, first.taker_buy_quote_volume) == (10.112, 884112.90511)
    assert first.ts_event_ns == 1767225660000 * 10**6
    assert first.ts_recv_ns == 9
    # closeTime == now is still in progress: the bar closes only once now passes closeTime
    at_close = parse_rest_klines(body, Market.SPOT, "BTCUSDT", "1m", now_ms=1767225659999, ts_recv_ns=9)
    assert [b.closed for b in at_close] == [False, False]


def test_klines_bad_rows_dropped_and_counted() -> None:
    before = parse_errors("usdm", "nan")
    body = json.dumps([ROW_1, [*ROW_2[:4], "NaN", *ROW_2[5:]]])
    bars = parse_rest_klines(body, Market.USDM, "BTCUSDT", "1m", now_ms=2**62, ts_recv_ns=0)
    assert len(bars) == 1
    assert parse_errors("usdm", "nan") == before + 1


@pytest.mark.parametrize(
    ("body", "kind"),
    [(b"[[1,2", "malformed_json"), (b'{"code":-1121,"msg":"Invalid symbol."}', "wrong_type"),
     (b'[[1,"x","1","1","1","1",2,"1",1,"1","1","0"]]', "bad_number")],
)  # fmt: skip
def test_klines_bad_body_raises_wire_format_error(body: bytes, kind: str) -> None:
    with pytest.raises(WireFormatError) as info:
        parse_rest_klines(body, Market.SPOT, "BTCUSDT", "1m", now_ms=0, ts_recv_ns=0)
    assert info.value.kind == kind


def test_ticker_24h_object_or_list() -> None:
    spot = {"symbol": "BTCUSDT", "priceChange": "1210.5", "priceChangePercent": "1.404", "lastPrice": "87412.01",
            "openPrice": "86201.51", "highPrice": "87600", "lowPrice": "85900", "volume": "21012.441",
            "quoteVolume": "1827871110.12", "openTime": 1767139202000, "closeTime": 1767225602000,
            "firstId": 1, "lastId": 2, "count": 22344446, "bidPrice": "87412.0"}  # fmt: skip
    (one,) = parse_rest_tickers_24h(json.dumps(spot), Market.SPOT, 3)
    assert (one.symbol, one.close, one.open, one.quote_volume) == (
        "BTCUSDT",
        87412.01,
        86201.51,
        1827871110.12,
    )
    assert one.ts_event_ns == 1767225602000 * 10**6
    many = parse_rest_tickers_24h(json.dumps([spot, {**spot, "symbol": "ETHUSDT"}]), Market.SPOT, 3)
    assert [t.symbol for t in many] == ["BTCUSDT", "ETHUSDT"]


def test_exchange_info_spot_and_futures() -> None:
    spot = {"timezone": "UTC", "serverTime": 5, "rateLimits": [], "symbols": [
        {"symbol": "BTCUSDT", "status": "TRADING", "baseAsset": "BTC", "quoteAsset": "USDT",
         "filters": [{"filterType": "PRICE_FILTER", "tickSize": "0.01"}], "permissionSets": [["SPOT"]]}]}  # fmt: skip
    info = decode_exchange_info(json.dumps(spot))
    assert info.server_time == 5
    assert (info.symbols[0].symbol, info.symbols[0].quote_asset, info.symbols[0].contract_type) == (
        "BTCUSDT",
        "USDT",
        "",
    )
    futures = {"symbols": [{"symbol": "BTCUSDT_261225", "status": "TRADING", "baseAsset": "BTC", "quoteAsset": "USDT",
                            "contractType": "CURRENT_QUARTER", "underlyingType": "COIN", "deliveryDate": 1}]}  # fmt: skip
    (sym,) = decode_exchange_info(json.dumps(futures)).symbols
    assert (sym.contract_type, sym.underlying_type) == ("CURRENT_QUARTER", "COIN")
    with pytest.raises(WireFormatError):
        decode_exchange_info(b'{"symbols": 3}')


def test_premium_index_and_funding_rates() -> None:
    one = {"symbol": "BTCUSDT", "markPrice": "87430.12", "indexPrice": "87418.37", "estimatedSettlePrice": "87411.94",
           "lastFundingRate": "0.0001", "interestRate": "0.0001", "nextFundingTime": 1767254400000, "time": 1767225603000}  # fmt: skip
    (p,) = decode_premium_index(json.dumps(one))
    assert (p.mark_price, p.last_funding_rate, p.next_funding_time) == (87430.12, "0.0001", 1767254400000)
    assert len(decode_premium_index(json.dumps([one, {**one, "lastFundingRate": ""}]))) == 2
    rows = decode_funding_rates(
        b'[{"symbol":"BTCUSDT","fundingRate":"-0.0003","fundingTime":1,"markPrice":""}]'
    )
    assert (rows[0].funding_rate, rows[0].mark_price) == (-0.0003, "")
