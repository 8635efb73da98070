"""Every frame of the real recorded sessions parses, and the events match the raw JSON field by field."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from ws_session_frames import parse_errors, session_frames

from cryptoradar.events import Bar, BookTicker, Market, Trade
from cryptoradar.sources.binance.parse import FrameParser

SESSIONS = [("spot-session-1.txt", Market.SPOT), ("usdm-session-1.txt", Market.USDM)]


def _expected_kind(stream: str) -> str:
    """Classify by stream suffix, independently of the parser's routing."""
    suffix = stream.split("@", 1)[1]
    if suffix == "aggTrade":
        return "Trade"
    if suffix.startswith("kline_"):
        return "Bar"
    if suffix == "bookTicker":
        return "BookTicker"
    if suffix.startswith("depth"):
        return "depth"
    raise AssertionError(f"unexpected stream {stream} in the shared session")


@pytest.mark.parametrize(("name", "market"), SESSIONS)
def test_every_frame_parses_with_expected_counts(name: str, market: Market) -> None:
    frames = session_frames(name)
    expected = Counter(_expected_kind(json.loads(raw)["stream"]) for _, raw in frames)
    errors_before = parse_errors(market.value)
    parser = FrameParser(market)

    got: Counter[str] = Counter()
    for ts_recv_ns, raw in frames:
        result = parser.parse(raw, ts_recv_ns)
        assert result.error_kind is None, raw
        assert result.stream == json.loads(raw)["stream"]
        if result.stream_type == "depth":
            assert result.events == []
            got["depth"] += 1
        assert len(result.events) <= 1
        got.update(type(e).__name__ for e in result.events)

    assert got == expected
    assert expected["Trade"] > 0
    assert expected["Bar"] > 0
    assert expected["BookTicker"] > 0
    assert parse_errors(market.value) == errors_before


@pytest.mark.parametrize(("name", "market"), SESSIONS)
def test_events_match_raw_json(name: str, market: Market) -> None:
    parser = FrameParser(market)
    checked: Counter[str] = Counter()
    for ts_recv_ns, raw in session_frames(name):
        data = json.loads(raw)["data"]
        events = parser.parse(raw.encode(), ts_recv_ns).events
        if not events:
            continue
        (event,) = events
        assert event.market == market
        assert event.ts_recv_ns == ts_recv_ns
        if isinstance(event, Trade):
            assert (event.symbol, event.agg_id, event.buyer_is_maker) == (data["s"], data["a"], data["m"])
            assert (event.price, event.quantity) == (float(data["p"]), float(data["q"]))
            assert event.ts_event_ns == data["T"] * 1_000_000
        elif isinstance(event, Bar):
            k = data["k"]
            assert (event.symbol, event.interval, event.closed) == (data["s"], k["i"], k["x"])
            assert (event.open_time_ms, event.close_time_ms, event.trades) == (k["t"], k["T"], k["n"])
            floats = (event.open, event.high, event.low, event.close, event.volume, event.quote_volume)
            assert floats == tuple(float(k[f]) for f in "ohlcvq")
            assert (event.taker_buy_volume, event.taker_buy_quote_volume) == (float(k["V"]), float(k["Q"]))
            assert event.ts_event_ns == data["E"] * 1_000_000
        elif isinstance(event, BookTicker):
            assert (event.symbol, event.update_id) == (data["s"], data["u"])
            quotes = (event.bid_price, event.bid_qty, event.ask_price, event.ask_qty)
            assert quotes == tuple(float(data[f]) for f in "bBaA")
            # spot bookTicker has no venue time; USD-M carries the transaction time T
            expected_ns = ts_recv_ns if market == Market.SPOT else data["T"] * 1_000_000
            assert event.ts_event_ns == expected_ns
        checked[type(event).__name__] += 1
    assert set(checked) == {"Trade", "Bar", "BookTicker"}
