"""Candle cache (resumable, torn-write safe), candle JSON naming, and the event-order merge."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cryptoradar.backtest.candles import CandleCache
from cryptoradar.backtest.inputs import CandleJsonInput, load, merge_in_event_order
from cryptoradar.core.metrics import REGISTRY
from cryptoradar.events import Bar, Market, Trade

MIN = 60_000
T0 = 1_700_000_000_000 // (5 * MIN) * (5 * MIN)


def bar(symbol: str, interval: str, open_ms: int, close: float = 1.0) -> Bar:
    length = {"1m": MIN, "5m": 5 * MIN}[interval]
    close_ms = open_ms + length - 1
    return Bar(
        Market.SPOT, symbol, interval, open_ms, close_ms, close, close, close, close, 2.0, 2.0 * close, 3,
        1.0, close, True, (close_ms + 1) * 1_000_000, 0,
    )  # fmt: skip


def test_cache_round_trip_and_resume(tmp_path: Path) -> None:
    cache = CandleCache(tmp_path)
    assert cache.next_open_ms(Market.SPOT, "BTCUSDT", "1m") is None
    assert cache.read(Market.SPOT, "BTCUSDT", "1m") == []
    first = [bar("BTCUSDT", "1m", T0 + k * MIN, 100.0 + k) for k in range(3)]
    assert cache.append(Market.SPOT, "BTCUSDT", "1m", first) == 3
    assert cache.next_open_ms(Market.SPOT, "BTCUSDT", "1m") == T0 + 3 * MIN
    # Overlapping appends only add what is new.
    more = [bar("BTCUSDT", "1m", T0 + k * MIN, 100.0 + k) for k in range(2, 5)]
    assert cache.append(Market.SPOT, "BTCUSDT", "1m", more) == 2
    got = cache.read(Market.SPOT, "BTCUSDT", "1m")
    assert [b.open_time_ms for b in got] == [T0 + k * MIN for k in range(5)]
    assert got[1] == first[1]  # every field survives, ts_event_ns is close + 1 ms as for archives
    assert cache.path(Market.SPOT, "btcusdt", "1m") == tmp_path / "spot" / "1m" / "BTCUSDT.jsonl"


def test_cache_ignores_and_repairs_a_torn_last_line(tmp_path: Path) -> None:
    cache = CandleCache(tmp_path)
    cache.append(Market.SPOT, "ETHUSDT", "1m", [bar("ETHUSDT", "1m", T0 + k * MIN) for k in range(2)])
    path = cache.path(Market.SPOT, "ETHUSDT", "1m")
    with path.open("ab") as f:
        f.write(b'[1700000000000,"1.0","1.0"')  # a crash mid-write
    assert len(cache.read(Market.SPOT, "ETHUSDT", "1m")) == 2
    assert cache.next_open_ms(Market.SPOT, "ETHUSDT", "1m") == T0 + 2 * MIN
    assert cache.append(Market.SPOT, "ETHUSDT", "1m", [bar("ETHUSDT", "1m", T0 + 2 * MIN)]) == 1
    assert [b.open_time_ms for b in cache.read(Market.SPOT, "ETHUSDT", "1m")] == [
        T0 + k * MIN for k in range(3)
    ]
    assert path.read_bytes().count(b"\n") == 3


def _bad_rows() -> float:
    labels = {"market": "spot", "kind": "bad_row"}
    negative = {"market": "spot", "kind": "negative"}
    return sum(
        REGISTRY.get_sample_value("cryptoradar_parse_errors_total", x) or 0.0 for x in (labels, negative)
    )


def test_candle_json_name_and_estimated_quote_volume(tmp_path: Path) -> None:
    path = tmp_path / "XRP_ETH-5m.json"
    rows = [[T0, 1.0, 2.0, 0.5, 1.5, 10.0], [T0 + 5 * MIN, 1.5, 1.6, 1.4, 1.5, 0.0]]
    bad = [[T0 + 10 * MIN, "x"], None, [T0 + 15 * MIN, 1.0, 1.0, -1.0, 1.0, 1.0]]  # dropped, counted
    path.write_text(json.dumps(rows + bad))
    before = _bad_rows()
    stream = load(CandleJsonInput(path))
    assert _bad_rows() - before == 3
    bars = list(stream.events)
    assert [(b.symbol, b.interval, b.close_time_ms) for b in bars] == [
        ("XRPETH", "5m", T0 + 5 * MIN - 1),
        ("XRPETH", "5m", T0 + 10 * MIN - 1),
    ]
    assert isinstance(bars[0], Bar)
    assert bars[0].quote_volume == 15.0
    assert stream.report.continuous
    with pytest.raises(ValueError, match="pass symbol and interval"):
        load(CandleJsonInput(tmp_path / "candles.json"))


def test_merge_orders_by_close_time_then_symbol_then_interval() -> None:
    eth_1m = [bar("ETHUSDT", "1m", T0 + k * MIN) for k in range(5)]
    btc_1m = [bar("BTCUSDT", "1m", T0 + k * MIN) for k in range(5)]
    btc_5m = [bar("BTCUSDT", "5m", T0)]
    trade = Trade(Market.USDM, "ADAUSDT", 1, 1.0, 1.0, False, T0 * 1_000_000 + 90_000_000_000, 0)
    merged = list(merge_in_event_order([btc_5m, eth_1m, [trade], btc_1m]))
    keys = [(e.ts_event_ns // 1_000_000, e.symbol, getattr(e, "interval", "-")) for e in merged]
    assert keys[:3] == [
        (T0 + MIN, "BTCUSDT", "1m"),
        (T0 + MIN, "ETHUSDT", "1m"),
        (T0 + 90_000, "ADAUSDT", "-"),
    ]
    assert keys[-3:] == [
        (T0 + 5 * MIN, "BTCUSDT", "1m"),
        (T0 + 5 * MIN, "BTCUSDT", "5m"),
        (T0 + 5 * MIN, "ETHUSDT", "1m"),
    ]
    assert len(merged) == 12


def test_sorted_lists_and_lazy_streams_merge_identically() -> None:
    """Lists in key order merge by one stable sort; other streams lazily by heap: the same order."""
    eth_1m = [bar("ETHUSDT", "1m", T0 + k * MIN) for k in range(6)]
    btc_1m = [bar("BTCUSDT", "1m", T0 + k * MIN) for k in range(6)]
    btc_1m_copy = [bar("BTCUSDT", "1m", T0 + k * MIN) for k in range(6)]
    btc_5m = [bar("BTCUSDT", "5m", T0)]
    trade = Trade(Market.USDM, "ADAUSDT", 1, 1.0, 1.0, False, T0 * 1_000_000 + 120_000_000_000, 0)
    streams = [btc_5m, eth_1m, [trade], btc_1m, btc_1m_copy]
    by_sort = list(merge_in_event_order(streams))
    by_heap = list(merge_in_event_order([iter(s) for s in streams]))
    assert [id(e) for e in by_sort] == [id(e) for e in by_heap]
    # Equal keys keep stream order: the earlier input's bar first.
    first = [i for i, e in enumerate(by_sort) if e is btc_1m[0] or e is btc_1m_copy[0]]
    assert [by_sort[i] for i in first] == [btc_1m[0], btc_1m_copy[0]]
    assert [by_sort[i] is btc_1m[0] for i in first] == [True, False]


def test_a_list_out_of_key_order_merges_like_the_heap() -> None:
    late_first = [bar("ETHUSDT", "1m", T0 + MIN), bar("ETHUSDT", "1m", T0)]
    btc = [bar("BTCUSDT", "1m", T0 + k * MIN) for k in range(3)]
    by_list = list(merge_in_event_order([late_first, btc]))
    by_heap = list(merge_in_event_order([iter(late_first), iter(btc)]))
    assert [id(e) for e in by_list] == [id(e) for e in by_heap]
