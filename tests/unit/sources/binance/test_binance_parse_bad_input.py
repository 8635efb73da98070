"""Routing and bad input: every case gives the right routing or error kind, is counted, and never raises."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ws_session_frames import parse_errors, session_frames

from cryptoradar.core.metrics import REGISTRY
from cryptoradar.events import Bar, BookTicker, Liquidation, Market, MarkPrice, Side, Ticker, Trade
from cryptoradar.sources.binance.parse import FrameParser, ParsedFrame, stream_type_of

AGG: dict[str, Any] = {
    "e": "aggTrade", "E": 1767225601234, "s": "BTCUSDT", "a": 3512345678, "p": "87412.01000000",
    "q": "0.01500000", "f": 5712345678, "l": 5712345680, "T": 1767225601233, "m": False, "M": True,
}  # fmt: skip
KLINE: dict[str, Any] = {
    "e": "kline", "E": 1767225660012, "s": "BTCUSDT",
    "k": {"t": 1767225600000, "T": 1767225659999, "s": "BTCUSDT", "i": "1m", "f": 1, "L": 2,
          "o": "87412.01", "c": "87455.30", "h": "87480.00", "l": "87400.10", "v": "18.73412",
          "n": 1335, "x": True, "q": "1637820.44123", "V": "10.112", "Q": "884112.90511", "B": "0"},
}  # fmt: skip
FORCE: dict[str, Any] = {
    "e": "forceOrder", "E": 1767225602105,
    "o": {"s": "ETHUSDT", "S": "SELL", "o": "LIMIT", "f": "IOC", "q": "12.500", "p": "2968.41",
          "ap": "2975.02", "X": "FILLED", "l": "3.100", "z": "12.500", "T": 1767225602101},
}  # fmt: skip
MARK: dict[str, Any] = {
    "e": "markPriceUpdate", "E": 1767225603000, "s": "BTCUSDT", "p": "87430.12", "P": "87411.94",
    "i": "87418.37", "r": "-0.00010000", "T": 1767254400000,
}  # fmt: skip
MINI: dict[str, Any] = {
    "e": "24hrMiniTicker", "E": 1767225602000, "s": "BTCUSDT", "c": "87412.01", "o": "86201.51",
    "h": "87600.00", "l": "85900.00", "v": "21012.441", "q": "1827871110.12",
}  # fmt: skip
SPOT_BOOK = {"u": 78123456789, "s": "BTCUSDT", "b": "87412.0", "B": "1.203", "a": "87412.01", "A": "0.401"}


def j(obj: Any) -> bytes:
    """Compact JSON, byte for byte the way Binance writes frames (the parser's fast path)."""
    return json.dumps(obj, separators=(",", ":")).encode()


_TOKEN = re.compile(r'("(?:[^"\\]|\\.)*")|([,:])')


def spaced(raw: bytes | str) -> bytes | str:
    """The same JSON with a space after every `,` and `:` outside strings: the parser's general path."""
    text = raw if isinstance(raw, str) else raw.decode()
    out = _TOKEN.sub(lambda m: m.group(1) or m.group(2) + " ", text)
    return out if isinstance(raw, str) else out.encode()


def combined(stream: str, data: Any) -> bytes:
    return j({"stream": stream, "data": data})


def with_(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**base, **changes}


def without(base: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in base.items() if k != key}


# (id, market, raw frame, error_kind, stream_type, number of events)
CASES: list[tuple[str, Market, bytes | str, str | None, str, int]] = [
    ("malformed", Market.SPOT, b'{"stream":"btcusdt@aggTrade","data":{', "malformed_json", "unknown", 0),
    ("empty", Market.SPOT, b"", "malformed_json", "unknown", 0),
    ("not_json", Market.SPOT, "hello", "malformed_json", "unknown", 0),
    ("unknown_stream", Market.SPOT, combined("btcusdt@blockTrade", {"e": "blockTrade"}), "unknown_stream", "blockTrade", 0),
    ("unknown_event", Market.SPOT, j({"e": "blockTrade", "E": 1}), "unknown_event", "blockTrade", 0),
    ("unknown_shape", Market.SPOT, j({"hello": 1}), "unknown_shape", "unknown", 0),
    ("stream_without_data", Market.SPOT, j({"stream": "btcusdt@aggTrade"}), "missing_field", "unknown", 0),
    ("missing_price", Market.SPOT, j(without(AGG, "p")), "missing_field", "aggTrade", 0),
    ("missing_kline_body", Market.SPOT, combined("btcusdt@kline_1m", without(KLINE, "k")), "missing_field", "kline", 0),
    ("nan", Market.SPOT, combined("btcusdt@kline_1m", with_(KLINE, k=with_(KLINE["k"], o="NaN"))), "nan", "kline", 0),
    ("inf", Market.SPOT, j(with_(AGG, p="inf")), "inf", "aggTrade", 0),
    ("neg_inf", Market.USDM, j(with_(MARK, r="-inf")), "inf", "markPrice", 0),
    ("negative_qty", Market.SPOT, j(with_(AGG, q="-0.5")), "negative", "aggTrade", 0),
    ("negative_bid", Market.SPOT, combined("btcusdt@bookTicker", with_(SPOT_BOOK, b="-1")), "negative", "bookTicker", 0),
    ("zero_price", Market.SPOT, j(with_(AGG, p="0")), "zero", "aggTrade", 0),
    ("price_not_a_number", Market.SPOT, j(with_(AGG, p="abc")), "bad_number", "aggTrade", 0),
    ("price_bool", Market.SPOT, j(with_(AGG, p=True)), "bad_number", "aggTrade", 0),
    ("price_overflow", Market.SPOT, b'{"e":"aggTrade","s":"X","a":1,"p":1e400,"q":"1","T":1,"m":true}', "bad_number", "aggTrade", 0),
    ("id_as_text", Market.SPOT, j(with_(AGG, a="abc")), "wrong_type", "aggTrade", 0),
    ("maker_as_text", Market.SPOT, j(with_(AGG, m="yes")), "wrong_type", "aggTrade", 0),
    ("symbol_as_number", Market.SPOT, j(with_(AGG, s=5)), "wrong_type", "aggTrade", 0),
    ("data_not_object", Market.SPOT, combined("btcusdt@aggTrade", 5), "wrong_type", "aggTrade", 0),
    ("event_type_not_text", Market.SPOT, j(with_(AGG, e=5)), "wrong_type", "unknown", 0),
    ("bad_side", Market.USDM, j(with_(FORCE, o=with_(FORCE["o"], S="SIDEWAYS"))), "bad_enum", "forceOrder", 0),
    ("bad_funding_rate", Market.USDM, j(with_(MARK, r="x")), "bad_number", "markPrice", 0),
    ("array_of_numbers", Market.USDM, b"[1,2]", "wrong_type", "unknown", 0),
    ("mixed_array", Market.USDM, j([MINI, MARK]), "unknown_event", "unknown", 0),
    ("top_level_string", Market.SPOT, b'"x"', "wrong_type", "unknown", 0),
    # good frames and routing
    ("unknown_fields_parse", Market.USDM, j(with_(AGG, nq="0.015", zz={"new": [1, 2]}, st=1, ps="BTCUSDT")), None, "aggTrade", 1),
    ("without_later_fields", Market.USDM, j(without(AGG, "M")), None, "aggTrade", 1),
    ("str_input", Market.SPOT, j(AGG).decode(), None, "aggTrade", 1),
    ("depth_ignored", Market.SPOT, combined("btcusdt@depth@100ms", {"e": "depthUpdate", "b": [["1", "2"]]}), None, "depth", 0),
    ("raw_depth_ignored", Market.USDM, j({"e": "depthUpdate", "E": 1, "b": [], "a": []}), None, "depth", 0),
    ("bare_spot_book", Market.SPOT, j(SPOT_BOOK), None, "bookTicker", 1),
    ("empty_book_side", Market.SPOT, j(with_(SPOT_BOOK, b="0", B="0")), None, "bookTicker", 1),
    ("zero_volume_kline", Market.SPOT, j(with_(KLINE, k=with_(KLINE["k"], v="0", q="0", V="0", Q="0", n=0))), None, "kline", 1),
    ("mini_ticker_arr", Market.SPOT, j([MINI, with_(MINI, s="ETHUSDT")]), None, "miniTicker", 2),
    ("mini_ticker_arr_combined", Market.SPOT, combined("!miniTicker@arr", [MINI]), None, "miniTicker", 1),
    ("full_ticker", Market.USDM, combined("btcusdt@ticker", with_(MINI, e="24hrTicker", P="1.4")), None, "ticker", 1),
    ("empty_array", Market.USDM, b"[]", None, "unknown", 0),
    ("force_order_all", Market.USDM, combined("!forceOrder@arr", FORCE), None, "forceOrder", 1),
    ("mark_price_1s", Market.USDM, combined("btcusdt@markPrice@1s", MARK), None, "markPrice", 1),
    ("delivery_mark_price", Market.USDM, j(with_(MARK, r="", T=0)), None, "markPrice", 1),
    ("control_ok", Market.SPOT, b'{"result":null,"id":1}', None, "control", 0),
    ("control_list", Market.SPOT, b'{"result":["btcusdt@aggTrade"],"id":3}', None, "control", 0),
    ("control_error", Market.SPOT, b'{"error":{"code":2,"msg":"Invalid request"},"id":7}', None, "control", 0),
    ("control_code", Market.USDM, b'{"code":3,"msg":"Invalid JSON: expected value"}', None, "control", 0),
    ("shutdown_raw", Market.SPOT, b'{"e":"serverShutdown","E":1767225602000}', None, "serverShutdown", 0),
    ("shutdown_combined", Market.SPOT, combined("!serverShutdown", {"e": "serverShutdown", "E": 1}), None, "serverShutdown", 0),
    # combined frames: the payload's `e` picks the type; the stream name only where there is no `e`
    ("spot_book_combined", Market.SPOT, combined("btcusdt@bookTicker", SPOT_BOOK), None, "bookTicker", 1),
    ("spot_book_combined_str", Market.SPOT, combined("btcusdt@bookTicker", SPOT_BOOK).decode(), None, "bookTicker", 1),
    ("book_without_e_on_usdm", Market.USDM, combined("btcusdt@bookTicker", SPOT_BOOK), None, "bookTicker", 1),
    ("payload_type_wins", Market.SPOT, combined("btcusdt@kline_1m", AGG), None, "aggTrade", 1),
    ("unknown_payload_type", Market.SPOT, combined("btcusdt@aggTrade", with_(AGG, e="blockTrade")), "unknown_stream", "blockTrade", 0),
    ("array_on_single_stream", Market.SPOT, combined("btcusdt@aggTrade", [AGG]), "wrong_type", "aggTrade", 0),
    ("object_on_array_stream", Market.USDM, combined("!markPrice@arr@1s", MARK), None, "markPrice", 1),
    ("coin_m_mark_price", Market.USDM, combined("btcusd_perp@markPrice", with_(MARK, st=2)), None, "markPrice", 0),
    ("mark_price_nan_rate", Market.USDM, combined("btcusdt@markPrice", with_(MARK, r="NaN")), "nan", "markPrice", 0),
    ("liquidation_negative_last_qty", Market.USDM, combined("!forceOrder@arr", with_(FORCE, o=with_(FORCE["o"], l="-1"))), "negative", "forceOrder", 0),
    # implausible values
    ("kline_high_below_low", Market.SPOT, combined("btcusdt@kline_1m", with_(KLINE, k=with_(KLINE["k"], h="87300", l="87400.10", o="87350", c="87350"))), "kline_range", "kline", 0),
    ("kline_close_above_high", Market.USDM, combined("btcusdt@kline_1m", with_(KLINE, k=with_(KLINE["k"], c="87480.01"))), "kline_range", "kline", 0),
    ("kline_open_below_low", Market.SPOT, j(with_(KLINE, k=with_(KLINE["k"], o="87400.09"))), "kline_range", "kline", 0),
    ("kline_negative_event_time", Market.SPOT, combined("btcusdt@kline_1m", with_(KLINE, E=-1)), "bad_time", "kline", 0),
    ("kline_zero_open_time", Market.SPOT, combined("btcusdt@kline_1m", with_(KLINE, k=with_(KLINE["k"], t=0))), "bad_time", "kline", 0),
    ("trade_negative_time", Market.SPOT, combined("btcusdt@aggTrade", with_(AGG, T=-5)), "bad_time", "aggTrade", 0),
    ("liquidation_zero_time", Market.USDM, combined("!forceOrder@arr", with_(FORCE, o=with_(FORCE["o"], T=0))), "bad_time", "forceOrder", 0),
    ("mark_price_negative_time", Market.USDM, j(with_(MARK, E=-1767225603000)), "bad_time", "markPrice", 0),
    ("ticker_zero_time", Market.SPOT, combined("btcusdt@miniTicker", with_(MINI, E=0)), "bad_time", "miniTicker", 0),
    ("usdm_book_negative_time", Market.USDM, combined("btcusdt@bookTicker", with_(SPOT_BOOK, e="bookTicker", E=-1, T=-1)), "bad_time", "bookTicker", 0),
    ("empty_symbol", Market.SPOT, combined("btcusdt@aggTrade", with_(AGG, s="")), "bad_symbol", "aggTrade", 0),
    ("symbol_markup", Market.SPOT, combined("btcusdt@kline_1m", with_(KLINE, s="<b>BTC</b>")), "bad_symbol", "kline", 0),
    ("symbol_brackets", Market.USDM, j(with_(MARK, s="BTC[]()*@")), "bad_symbol", "markPrice", 0),
    ("symbol_newline", Market.SPOT, combined("btcusdt@bookTicker", with_(SPOT_BOOK, s="BTCUSDT\n")), "bad_symbol", "bookTicker", 0),
    ("symbol_lowercase", Market.SPOT, j(with_(AGG, s="btcusdt")), "bad_symbol", "aggTrade", 0),
    ("symbol_65_chars", Market.USDM, combined("!forceOrder@arr", with_(FORCE, o=with_(FORCE["o"], s="A" * 65))), "bad_symbol", "forceOrder", 0),
    ("symbol_64_chars", Market.SPOT, j(with_(AGG, s="A" * 64)), None, "aggTrade", 1),
    ("symbol_quarterly", Market.USDM, j(with_(AGG, s="BTCUSDT_261225")), None, "aggTrade", 1),
    ("symbol_utf8", Market.SPOT, j(with_(AGG, s="币安人生USDT")), None, "aggTrade", 1),
]  # fmt: skip


@pytest.mark.parametrize("layout", ["compact", "spaced"])
@pytest.mark.parametrize(
    ("market", "raw", "error_kind", "stream_type", "n_events"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_routing_and_error_kinds(
    market: Market, raw: bytes | str, error_kind: str | None, stream_type: str, n_events: int, layout: str
) -> None:
    before_all = parse_errors(market.value)
    before_kind = parse_errors(market.value, error_kind) if error_kind else 0.0

    result = FrameParser(market).parse(raw if layout == "compact" else spaced(raw), 123)

    assert isinstance(result, ParsedFrame)
    assert result.error_kind == error_kind
    assert result.stream_type == stream_type
    assert len(result.events) == n_events
    if error_kind is None:
        assert parse_errors(market.value) == before_all
    else:
        assert parse_errors(market.value, error_kind) == before_kind + 1
        assert parse_errors(market.value) == before_all + 1


def test_fast_and_general_paths_agree_on_real_frames() -> None:
    for name, market in (("spot-session-1.txt", Market.SPOT), ("usdm-session-1.txt", Market.USDM)):
        fast, general = FrameParser(market), FrameParser(market)
        for ts, raw in session_frames(name)[:400]:
            assert fast.parse(raw, ts) == general.parse(spaced(raw), ts)


def test_frames_that_only_look_like_a_cached_route() -> None:
    parser = FrameParser(Market.SPOT)
    assert parser.parse(combined("btcusdt@aggTrade", AGG), 1).events  # caches the route
    # a control reply whose text at the stream name's offset matches the cached name
    reply = parser.parse(b'{"result":"btcusdt@aggTrade","id":9}', 1)
    assert reply.stream_type == "control"
    assert reply.control is not None
    assert reply.control.result == "btcusdt@aggTrade"
    # an escaped stream name and a key after `data` are still combined frames
    escaped = parser.parse(b'{"stream":"btcusdt\\u0040aggTrade","data":' + j(AGG) + b"}", 1)
    assert (escaped.stream, len(escaped.events)) == ("btcusdt@aggTrade", 1)
    trailing = parser.parse(j({"stream": "btcusdt@aggTrade", "data": AGG, "sent_ns": 5}), 1)
    assert (trailing.stream_type, len(trailing.events)) == ("aggTrade", 1)
    assert parser.parse(combined("btcusdt@depth@100ms", {"e": "depthUpdate"}), 1).stream_type == "depth"
    assert parser.parse(b'{"result":"btcusdt@depth@100ms","id":3}', 1).stream_type == "control"


def test_control_replies_carry_id_result_and_error() -> None:
    parser = FrameParser(Market.SPOT)
    ok = parser.parse(b'{"result":["btcusdt@aggTrade"],"id":3}', 1).control
    assert ok is not None
    assert ok.ok
    assert ok.id == 3
    assert ok.result == ["btcusdt@aggTrade"]
    err = parser.parse(b'{"error":{"code":2,"msg":"Invalid request"},"id":"abc"}', 1).control
    assert err is not None
    assert not err.ok
    assert (err.id, err.error_code, err.error_msg) == ("abc", 2, "Invalid request")
    top = parser.parse(b'{"code":4,"msg":"Too many subscriptions","id":null}', 1).control
    assert top is not None
    assert (top.id, top.error_code, top.error_msg) == (None, 4, "Too many subscriptions")
    prop = parser.parse(b'{"result":true,"id":5}', 1)
    assert prop.control is not None
    assert prop.control.result is True
    assert prop.events == []


def test_server_shutdown_flag() -> None:
    parser = FrameParser(Market.SPOT)
    assert parser.parse(b'{"e":"serverShutdown","E":1}', 1).server_shutdown
    assert parser.parse(combined("!serverShutdown", {"e": "serverShutdown", "E": 1}), 1).server_shutdown
    assert not parser.parse(j(AGG), 1).server_shutdown


def skipped(market: str) -> float:
    value = REGISTRY.get_sample_value(
        "cryptoradar_binance_items_skipped_total", {"market": market, "reason": "coin_m"}
    )
    return value or 0.0


def test_coin_m_items_are_dropped_and_counted() -> None:
    parser = FrameParser(Market.USDM)
    before = skipped("usdm")
    errors_before = parse_errors("usdm")
    arr = combined(
        "!markPrice@arr@1s", [MARK, with_(MARK, s="BTCUSD_PERP", st=2), with_(MARK, s="ETHUSDT", st=1)]
    )
    result = parser.parse(arr, 7)
    assert [e.symbol for e in result.events] == ["BTCUSDT", "ETHUSDT"]
    assert result.error_kind is None
    assert result.dropped_items == 1
    tickers = parser.parse(j([with_(MINI, st=2), with_(MINI, s="ETHUSD_PERP", st=2)]), 7)
    assert tickers.events == []
    assert tickers.dropped_items == 2
    assert tickers.stream_type == "miniTicker"
    liquidation = parser.parse(j(with_(FORCE, st=2, ps="ETHUSD")), 7)
    assert liquidation.events == []
    assert liquidation.error_kind is None
    assert liquidation.dropped_items == 1
    assert skipped("usdm") == before + 4
    assert parse_errors("usdm") == errors_before  # COIN-M items are not bad input


def test_one_bad_item_in_an_array_keeps_the_rest() -> None:
    result = FrameParser(Market.SPOT).parse(j([MINI, with_(MINI, s="BADUSDT", c="NaN")]), 7)
    assert [e.symbol for e in result.events] == ["BTCUSDT"]
    assert result.dropped_items == 1
    assert result.error_kind is None


def test_an_item_of_another_type_in_an_array_is_a_bad_item() -> None:
    errors_before = parse_errors("usdm", "bad_enum")
    result = FrameParser(Market.USDM).parse(combined("!markPrice@arr", [MINI, MARK]), 7)
    assert [type(e) for e in result.events] == [MarkPrice]
    assert (result.error_kind, result.dropped_items) == (None, 1)
    assert parse_errors("usdm", "bad_enum") == errors_before + 1


def test_event_fields() -> None:
    usdm = FrameParser(Market.USDM)
    (liq,) = usdm.parse(j(FORCE), 5).events
    assert liq == Liquidation(
        Market.USDM, "ETHUSDT", Side.SELL, 2968.41, 2975.02, 12.5, 12.5, "FILLED", 1767225602101 * 10**6, 5
    )
    (mark,) = usdm.parse(j(MARK), 5).events
    assert mark == MarkPrice(
        Market.USDM, "BTCUSDT", 87430.12, 87418.37, -0.0001, 1767254400000, 1767225603000 * 10**6, 5
    )
    (ticker,) = usdm.parse(j([MINI]), 5).events
    assert ticker == Ticker(
        Market.USDM, "BTCUSDT", 87412.01, 86201.51, 87600.0, 85900.0, 21012.441, 1827871110.12,
        1767225602000 * 10**6, 5,
    )  # fmt: skip
    futures_book = {"e": "bookTicker", "u": 9, "E": 1767225601195, "T": 1767225601190, "s": "BTCUSDT",
                    "b": "87431.40", "B": "5.321", "a": "87431.50", "A": "2.004"}  # fmt: skip
    (book,) = usdm.parse(j(futures_book), 5).events
    assert book == BookTicker(
        Market.USDM, "BTCUSDT", 9, 87431.4, 5.321, 87431.5, 2.004, 1767225601190 * 10**6, 5
    )
    (bar,) = FrameParser(Market.SPOT).parse(combined("btcusdt@kline_1m", KLINE), 5).events
    assert isinstance(bar, Bar)
    assert (bar.closed, bar.trades, bar.ts_event_ns) == (True, 1335, 1767225660012 * 10**6)


def test_microsecond_timestamps_are_detected_per_value() -> None:
    parser = FrameParser(Market.SPOT)
    (trade,) = parser.parse(j(with_(AGG, T=1767225601233456, E=1767225601234000)), 1).events
    assert isinstance(trade, Trade)
    assert trade.ts_event_ns == 1767225601233456000
    k_us = with_(KLINE["k"], t=1767225600000000, T=1767225659999999)
    (bar,) = parser.parse(j(with_(KLINE, E=1767225660012345, k=k_us)), 1).events
    assert isinstance(bar, Bar)
    assert (bar.open_time_ms, bar.close_time_ms, bar.ts_event_ns) == (
        1767225600000,
        1767225659999,
        1767225660012345000,
    )


@pytest.mark.parametrize(
    ("stream", "expected"),
    [
        ("btcusdt@kline_1m", ("kline", False)),
        ("btcusdt@kline_1m@+08:00", ("kline", False)),
        ("btcusdt@depth20@100ms", ("depth", False)),
        ("!markPrice@arr@1s", ("markPrice", True)),
        ("!miniTicker@arr", ("miniTicker", True)),
        ("!forceOrder@arr", ("forceOrder", False)),
        ("!bookTicker", ("bookTicker", False)),
        ("!serverShutdown", ("serverShutdown", False)),
    ],
)
def test_stream_type_of(stream: str, expected: tuple[str, bool]) -> None:
    assert stream_type_of(stream) == expected


# --- property tests: nothing raises ---------------------------------------------------------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=20,
)
_PARSERS = {m: FrameParser(m) for m in Market}


@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=200), market=st.sampled_from(list(Market)))
def test_arbitrary_bytes_never_raise(raw: bytes, market: Market) -> None:
    assert isinstance(_PARSERS[market].parse(raw, 0), ParsedFrame)


@settings(max_examples=300, deadline=None)
@given(value=_json_values, market=st.sampled_from(list(Market)))
def test_arbitrary_json_never_raises(value: Any, market: Market) -> None:
    assert isinstance(_PARSERS[market].parse(json.dumps(value), 0), ParsedFrame)
    assert isinstance(_PARSERS[market].parse(j(value), 0), ParsedFrame)


@settings(max_examples=300, deadline=None)
@given(stream=st.text(max_size=30), data=_json_values, market=st.sampled_from(list(Market)))
def test_arbitrary_stream_names_never_raise(stream: str, data: Any, market: Market) -> None:
    result = _PARSERS[market].parse(combined(stream, data), 0)
    assert result.stream == stream or result.error_kind is not None


@settings(max_examples=300, deadline=None)
@given(
    base=st.sampled_from([("btcusdt@aggTrade", AGG), ("btcusdt@kline_1m", KLINE), ("!forceOrder@arr", FORCE),
                          ("btcusdt@markPrice", MARK), ("btcusdt@bookTicker", SPOT_BOOK), ("!miniTicker@arr", [MINI])]),
    key=st.text(min_size=1, max_size=2),
    value=_json_values,
    market=st.sampled_from(list(Market)),
)  # fmt: skip
def test_mutated_real_shapes_never_raise(base: tuple[str, Any], key: str, value: Any, market: Market) -> None:
    stream, data = base
    mutated = [with_(data[0], **{key: value})] if isinstance(data, list) else with_(data, **{key: value})
    result = _PARSERS[market].parse(combined(stream, mutated), 0)
    assert (result.error_kind is None) or result.events == []
