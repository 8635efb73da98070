"""BarCloser: every closed bar exactly once, in open-time order (pure logic, no I/O)."""

from __future__ import annotations

import random

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from cryptoradar.events import Bar, Market
from cryptoradar.sources.binance.bars import BarCloser, DropReason, bucket_open_ms, close_ms, next_open_ms

M = 60_000
T0 = 1_767_225_600_000


def bar(open_ms: int, *, closed: bool, ts_ms: int | None = None, close: float = 1.0) -> Bar:
    return Bar(
        market=Market.SPOT,
        symbol="BTCUSDT",
        interval="1m",
        open_time_ms=open_ms,
        close_time_ms=open_ms + M - 1,
        open=1.0,
        high=1.0,
        low=1.0,
        close=close,
        volume=1.0,
        quote_volume=1.0,
        trades=1,
        taker_buy_volume=0.5,
        taker_buy_quote_volume=0.5,
        closed=closed,
        ts_event_ns=(ts_ms if ts_ms is not None else open_ms + M) * 1_000_000,
        ts_recv_ns=0,
    )


def closed_opens(bars: list[Bar]) -> list[int]:
    return [b.open_time_ms for b in bars if b.closed]


def anchored() -> BarCloser:
    closer = BarCloser(Market.SPOT, initial={("BTCUSDT", "1m"): T0 - M})
    return closer


def test_in_order_final_bars_are_emitted_once_and_duplicates_counted() -> None:
    closer = anchored()
    out = closer.on_stream_bar(bar(T0, closed=True))
    out += closer.on_stream_bar(bar(T0, closed=True))
    out += closer.on_stream_bar(bar(T0 + M, closed=True))
    assert closed_opens(out) == [T0, T0 + M]
    assert closer.dropped[DropReason.DUPLICATE] == 1
    assert closer.last_closed("BTCUSDT", "1m") == T0 + M


def test_in_progress_frames_pass_through_unless_stale_or_out_of_order() -> None:
    closer = anchored()
    assert closer.on_stream_bar(bar(T0, closed=False, ts_ms=T0 + 2000))
    assert not closer.on_stream_bar(bar(T0, closed=False, ts_ms=T0 + 1000))
    assert closer.dropped[DropReason.OUT_OF_ORDER] == 1
    closer.on_stream_bar(bar(T0, closed=True))
    assert not closer.on_stream_bar(bar(T0, closed=False, ts_ms=T0 + 5000))
    assert closer.dropped[DropReason.STALE] == 1


def test_a_final_bar_after_a_gap_is_held_until_rest_fills_the_gap() -> None:
    closer = anchored()
    assert closer.on_stream_bar(bar(T0 + 2 * M, closed=True)) == []
    assert closer.overdue(close_ms("1m", T0) + 2001) == [("BTCUSDT", "1m", T0)]
    rest = [bar(T0, closed=False), bar(T0 + M, closed=False), bar(T0 + 2 * M, closed=False)]
    out = closer.on_rest_bars("BTCUSDT", "1m", rest, server_now_ms=T0 + 3 * M + 2000)
    assert closed_opens(out) == [T0, T0 + M, T0 + 2 * M]
    assert all(b.closed for b in out)


def test_missing_final_push_is_reported_overdue_by_the_exchange_clock() -> None:
    closer = anchored()
    closer.on_stream_bar(bar(T0, closed=False))
    assert closer.overdue(close_ms("1m", T0) + 1000) == []  # inside the grace period
    assert closer.overdue(close_ms("1m", T0) + 2001) == [("BTCUSDT", "1m", T0)]


def test_rest_rows_still_in_progress_on_the_exchange_clock_are_not_final() -> None:
    closer = anchored()
    rows = [bar(T0, closed=False), bar(T0 + M, closed=False)]
    out = closer.on_rest_bars("BTCUSDT", "1m", rows, server_now_ms=T0 + M + 30_000)
    assert closed_opens(out) == [T0]
    # REST lagging (the row is not there yet) leaves the series overdue so the filler re-fetches.
    assert closer.overdue(T0 + 2 * M + 5000) == [("BTCUSDT", "1m", T0 + M)]


def test_unanchored_series_is_anchored_by_rest_and_releases_held_stream_bars() -> None:
    closer = BarCloser(Market.SPOT)
    assert closer.on_stream_bar(bar(T0 + 2 * M, closed=True)) == []
    assert closer.overdue(T0 + 10 * M) == []
    out = closer.on_rest_bars(
        "BTCUSDT", "1m", [bar(T0, closed=False), bar(T0 + M, closed=False)], server_now_ms=T0 + 2 * M + 2000
    )
    assert closed_opens(out) == [T0, T0 + M, T0 + 2 * M]


def test_held_bars_are_bounded() -> None:
    closer = BarCloser(Market.SPOT, max_held=3, initial={("BTCUSDT", "1m"): T0 - M})
    for i in range(1, 7):
        closer.on_stream_bar(bar(T0 + i * M, closed=True))
    assert closer.held_count() == 3
    assert closer.dropped[DropReason.HELD_OVERFLOW] == 3


def test_first_final_version_wins() -> None:
    closer = anchored()
    first = closer.on_stream_bar(bar(T0, closed=True, close=1.0))
    later = closer.on_rest_bars("BTCUSDT", "1m", [bar(T0, closed=False, close=2.0)], T0 + 3 * M)
    assert [b.close for b in first] == [1.0]
    assert later == []


def test_monthly_interval_uses_calendar_months() -> None:
    jan = 1_767_225_600_000  # 2026-01-01
    feb = next_open_ms("1M", jan)
    assert feb - jan == 31 * 86_400_000
    assert next_open_ms("1M", feb) - feb == 28 * 86_400_000


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_any_mix_of_duplicates_reorders_and_losses_yields_each_bar_exactly_once(seed: int) -> None:
    rng = random.Random(seed)
    n = 40
    truth = [bar(T0 + i * M, closed=True, close=float(i)) for i in range(n)]
    frames: list[Bar] = []
    for b in truth:
        frames.append(msgspec.structs.replace(b, closed=False))
        if rng.random() < 0.7:
            frames.append(b)  # final push delivered
        if rng.random() < 0.2:
            frames.append(b)  # duplicate (connection overlap)
    for _ in range(n // 2):  # local reordering
        i = rng.randrange(len(frames) - 1)
        frames[i], frames[i + 1] = frames[i + 1], frames[i]
    closer = anchored()
    emitted: list[Bar] = []
    for frame in frames:
        emitted += closer.on_stream_bar(frame)
        if rng.random() < 0.1:  # the gap filler runs now and then with REST's view of the past
            now_ms = frame.open_time_ms + rng.randrange(0, 2 * M)
            emitted += closer.on_rest_bars("BTCUSDT", "1m", truth, now_ms)
    emitted += closer.on_rest_bars("BTCUSDT", "1m", truth, T0 + (n + 1) * M)
    assert closed_opens(emitted) == [b.open_time_ms for b in truth]


def test_bucket_open_is_utc_aligned_weeks_start_monday_months_on_the_first() -> None:
    t = 1_767_225_600_000 + 3 * 86_400_000 + 3_723_456  # Sunday 2026-01-04 01:02:03.456 UTC
    assert bucket_open_ms("1m", t) == t - 3_456
    assert bucket_open_ms("1h", t) == t - 123_456
    assert bucket_open_ms("1w", t) == 1_767_225_600_000 - 3 * 86_400_000  # Monday 2025-12-29
    assert bucket_open_ms("1M", t) == 1_767_225_600_000  # 2026-01-01
    assert bucket_open_ms("1m", bucket_open_ms("1m", t)) == bucket_open_ms("1m", t)
