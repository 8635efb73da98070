"""Candle cache (resumable, torn-write safe), candle JSON naming, and the event-order merge."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest

from conftest import shared_data
from cryptoradar.backtest.candles import CandleCache
from cryptoradar.backtest.inputs import (
    ArchiveInput,
    BacktestInput,
    CacheInput,
    CandleJsonInput,
    LoadedStream,
    load,
    merge_in_event_order,
)
from cryptoradar.backtest.runner import BacktestOptions, price_paths
from cryptoradar.core.metrics import REGISTRY
from cryptoradar.events import Bar, Event, Market, Trade
from cryptoradar.sources.archive import interval_ms

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


def _day(symbol: str, interval: str, day: int, market: Market = Market.SPOT) -> list[Bar]:
    """One "file": a day's bars of one (market, symbol, interval), in time order."""
    length = {"1m": MIN, "5m": 5 * MIN}[interval]
    start = T0 + day * 1440 * MIN
    bars = [bar(symbol, interval, start + k * length) for k in range(1440 * MIN // length)]
    return [msgspec.structs.replace(b, market=market) for b in bars]


def _trades(symbol: str, day: int, seed: int) -> list[Trade]:
    rng = random.Random(seed)
    start_ns = (T0 + day * 1440 * MIN) * 1_000_000
    # On minute boundaries: ties with each other and with the bars closing then.
    times = sorted(start_ns + rng.randrange(1, 1440) * MIN * 1_000_000 for _ in range(500))
    return [Trade(Market.USDM, symbol, n, 1.0, 1.0, False, ts, 0) for n, ts in enumerate(times)]


MERGE_CASES = {
    "one symbol over days, in order": lambda: [_day("BTCUSDT", "1m", d) for d in range(4)],
    "one symbol over days, shuffled": lambda: [_day("BTCUSDT", "1m", d) for d in (2, 0, 3, 1)],
    "symbols over one day": lambda: [_day(s, "1m", 0) for s in ("SOLUSDT", "BTCUSDT", "ETHUSDT")],
    "overlapping days and symbols": lambda: [
        _day("ETHUSDT", "1m", 1),
        _day("BTCUSDT", "1m", 0),
        _day("BTCUSDT", "1m", 1),
        _day("ETHUSDT", "1m", 0),
    ],
    "1m and 5m of one symbol": lambda: [_day("BTCUSDT", "5m", 0), _day("BTCUSDT", "1m", 0)],
    "the same file twice (full ties)": lambda: [_day("BTCUSDT", "1m", 0), _day("BTCUSDT", "1m", 0)],
    "spot and futures of one symbol (ties on the key)": lambda: [
        _day("BTCUSDT", "1m", 0, Market.USDM),
        _day("BTCUSDT", "1m", 0),
    ],
    "trades and bars, with empty inputs": lambda: [
        _trades("BTCUSDT", 0, 1),
        [],
        _day("BTCUSDT", "1m", 0),
        _trades("ADAUSDT", 0, 2),
        _day("ADAUSDT", "5m", 0),
    ],
}


@pytest.mark.parametrize("make", MERGE_CASES.values(), ids=MERGE_CASES.keys())
def test_archive_like_lists_merge_exactly_like_the_heap(make: Callable[[], list[list[Event]]]) -> None:
    """Lists of one (symbol, interval) each take the concatenate-and-sort path: the heap's exact order."""
    streams = make()
    merged = list(merge_in_event_order(streams))
    by_heap = list(merge_in_event_order([iter(s) for s in streams]))
    assert [id(e) for e in merged] == [id(e) for e in by_heap]
    assert len(merged) == sum(len(s) for s in streams)
    keys = [(e.ts_event_ns, e.symbol, interval_ms(getattr(e, "interval", "1mo")) or 0) for e in merged]
    assert keys == sorted(keys)


def test_mixed_lists_fall_back_to_the_heap_in_the_same_order() -> None:
    """A recording-like list (several symbols, out of time order) is not a series: the heap merges all."""
    btc, eth = _day("BTCUSDT", "1m", 0)[:50], _day("ETHUSDT", "1m", 0)[:50]
    recording: list[Event] = [e for pair in zip(eth, btc, strict=True) for e in pair]
    recording[3], recording[10] = recording[10], recording[3]
    streams = [recording, _day("BTCUSDT", "5m", 0)[:10], _trades("BTCUSDT", 0, 3)]
    merged = list(merge_in_event_order(streams))
    by_heap = list(merge_in_event_order([iter(s) for s in streams]))
    assert [id(e) for e in merged] == [id(e) for e in by_heap]
    assert len(merged) == 100 + 10 + 500


def test_a_list_of_two_intervals_is_not_one_series() -> None:
    """5m and 1m bars of one symbol in one list (in key order) merge by the heap, whichever length it has."""
    five, one = _day("BTCUSDT", "5m", 0)[:3], _day("BTCUSDT", "1m", 0)[:15]
    mixed = sorted([*five, *one], key=lambda b: (b.ts_event_ns, b.interval != "1m"))
    streams = [mixed, _day("BTCUSDT", "1m", 0)[:15], _day("BTCUSDT", "5m", 0)[:3]]
    merged = list(merge_in_event_order(streams))
    by_heap = list(merge_in_event_order([iter(s) for s in streams]))
    assert [id(e) for e in merged] == [id(e) for e in by_heap]
    in_mixed = {id(b) for b in mixed}
    at_ten = [(b.interval, id(b) in in_mixed) for b in merged if b.ts_event_ns == five[1].ts_event_ns]
    assert at_ten == [("1m", True), ("1m", False), ("5m", True), ("5m", False)]


def _archive_days(folder: Path, days: int) -> list[Path]:
    """The real ADABTC day shifted to `days` consecutive daily archive files."""
    source = (shared_data() / "archive" / "ADABTC-1m-2021-11-27.csv").read_text().splitlines()
    paths = []
    for d in range(days):
        shift = d * 86_400_000
        lines = []
        for line in source:
            fields = line.split(",")
            fields[0], fields[6] = str(int(fields[0]) + shift), str(int(fields[6]) + shift)
            lines.append(",".join(fields))
        path = folder / f"ADABTC-1m-2021-11-{27 + d}.csv"
        path.write_text("\n".join(lines) + "\n")
        paths.append(path)
    return paths


@pytest.mark.parametrize(
    "options",
    [
        BacktestOptions(),
        BacktestOptions(symbols=frozenset({"ADABTC"}), from_ms=1_638_000_000_000),
        BacktestOptions(timeframes=frozenset({"5m"})),
    ],
    ids=["everything", "from a time", "other timeframe"],
)
def test_price_paths_of_series_streams_equal_the_per_event_grouping(
    tmp_path: Path, options: BacktestOptions
) -> None:
    """Archive and cache streams say which (market, symbol, interval) they hold, so `price_paths` takes
    them whole; forgetting that (per-event grouping) gives the same paths."""
    cache = CandleCache(tmp_path / "cache")
    inputs: list[BacktestInput] = [ArchiveInput(p) for p in _archive_days(tmp_path, 3)]
    inputs.append(CacheInput(cache, Market.USDM, "ADABTC", "1m"))
    streams = [load(i) for i in inputs[:3]]
    futures = [msgspec.structs.replace(b, market=Market.USDM) for b in streams[0].events]
    cache.append(Market.USDM, "ADABTC", "1m", futures)
    streams.append(load(inputs[3]))
    assert [s.series for s in streams] == [(Market.SPOT, "ADABTC", "1m")] * 3 + [
        (Market.USDM, "ADABTC", "1m")
    ]

    unlabelled = [LoadedStream(s.name, s.events, s.report) for s in streams]
    by_series, by_event = price_paths(streams, options), price_paths(unlabelled, options)
    assert by_series.keys() == by_event.keys()
    for key, (interval, path) in by_series.items():
        assert interval == by_event[key][0]
        assert list(path.bars) == list(by_event[key][1].bars)
    if options.timeframes is None and options.from_ms is None:
        assert len(by_series[(Market.SPOT, "ADABTC")][1]) == 3 * 1440
