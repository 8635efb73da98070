"""Outcome maths on hand-built series whose answers are worked out by hand."""

from __future__ import annotations

import math
import random
from bisect import bisect_right

import pytest

from cryptoradar.backtest.outcomes import (
    ExitKind,
    PricePath,
    first_exit,
    horizon_outcome,
    horizon_outcomes,
    parse_horizon,
)
from cryptoradar.backtest.stats import (
    ALL,
    EXIT_HORIZON,
    HitRateTable,
    aggregate,
    evaluate_signal,
    wilson_interval,
)
from cryptoradar.events import Bar, Direction, Market, Severity, Signal

MIN = 60_000
T0 = 1_700_000_000_000 // MIN * MIN


def bar(i: int, high: float, low: float, close: float) -> Bar:
    """The i-th 1m bar after T0 (the signal bar is i = 0)."""
    open_ms = T0 + i * MIN
    return Bar(
        Market.SPOT, "BTCUSDT", "1m", open_ms, open_ms + MIN - 1, close, high, low, close,
        1.0, close, 1, 0.5, 0.5 * close, True, (open_ms + MIN) * 1_000_000, 0,
    )  # fmt: skip


def path_of(rows: list[tuple[float, float, float]]) -> PricePath:
    """Row k is (high, low, close) of bar k + 1; bar 0 (the signal bar) closes at 100."""
    return PricePath.from_bars([bar(0, 100, 100, 100), *(bar(k + 1, *r) for k, r in enumerate(rows))])


START = T0 + MIN - 1  # the signal bar's close time


def signal(direction: Direction, **metrics: float) -> Signal:
    return Signal(
        "confluence", 1, "confluence", "BTCUSDT", "1m", T0, START, direction, Severity.INFO, (),
        {"entry": 100.0, **metrics}, {}, ("BTCUSDT",), (START + 1) * 1_000_000,
    )  # fmt: skip


def test_parse_horizon() -> None:
    assert parse_horizon("15m") == 15 * MIN
    assert parse_horizon("4h") == 240 * MIN
    assert parse_horizon("30s") == 30_000
    for bad in ("", "h", "0m", "-1h", "1y", "1.5h"):
        with pytest.raises(ValueError, match="horizon"):
            parse_horizon(bad)


def test_forward_return_mfe_mae_bullish_and_bearish() -> None:
    # Two bars make up the 2-minute horizon; the third is outside it and must not count.
    path = path_of([(103.0, 99.0, 102.0), (105.0, 97.0, 101.0), (200.0, 1.0, 150.0)])
    up = horizon_outcome(path, 100.0, Direction.BULLISH, START, "2m")
    assert up is not None
    assert up.return_pct == pytest.approx(1.0)
    assert up.mfe_pct == pytest.approx(5.0)
    assert up.mae_pct == pytest.approx(3.0)
    assert up.hit
    down = horizon_outcome(path, 100.0, Direction.BEARISH, START, "2m")
    assert down is not None
    assert down.return_pct == pytest.approx(-1.0)
    assert down.mfe_pct == pytest.approx(3.0)
    assert down.mae_pct == pytest.approx(5.0)
    assert down.miss


def test_excursions_never_negative() -> None:
    path = path_of([(110.0, 104.0, 108.0)])  # never below entry
    out = horizon_outcome(path, 100.0, Direction.BULLISH, START, "1m")
    assert out is not None
    assert out.mae_pct == 0.0
    assert out.mfe_pct == pytest.approx(10.0)


def test_horizon_beyond_data_end_has_no_outcome() -> None:
    path = path_of([(101.0, 99.0, 100.5)] * 3)
    assert horizon_outcome(path, 100.0, Direction.BULLISH, START, "3m") is not None
    assert horizon_outcome(path, 100.0, Direction.BULLISH, START, "4m") is None


def test_target_first() -> None:
    path = path_of([(101.0, 99.5, 100.5), (102.5, 99.8, 102.0), (103.0, 90.0, 95.0)])
    out = first_exit(path, Direction.BULLISH, stop=98.0, target=102.0, start_ms=START, max_ms=10 * MIN)
    assert (out.kind, out.bars, out.elapsed_ms) == (ExitKind.TARGET, 2, 2 * MIN)


def test_stop_first_bearish() -> None:
    # Bearish: stop above entry, target below. Bar 2 reaches the stop before any bar reaches the target.
    path = path_of([(100.5, 99.5, 100.0), (103.5, 99.0, 103.0), (103.0, 90.0, 91.0)])
    out = first_exit(path, Direction.BEARISH, stop=103.0, target=98.0, start_ms=START, max_ms=10 * MIN)
    assert (out.kind, out.bars) == (ExitKind.STOP, 2)


def test_bar_touching_both_counts_as_stop() -> None:
    path = path_of([(100.5, 99.5, 100.0), (103.0, 97.0, 101.0)])
    out = first_exit(path, Direction.BULLISH, stop=98.0, target=102.0, start_ms=START, max_ms=10 * MIN)
    assert (out.kind, out.bars, out.elapsed_ms) == (ExitKind.STOP, 2, 2 * MIN)


def test_timeout_and_data_end() -> None:
    path = path_of([(101.0, 99.0, 100.0)] * 5)
    timeout = first_exit(path, Direction.BULLISH, 98.0, 102.0, START, 3 * MIN)
    assert (timeout.kind, timeout.bars, timeout.elapsed_ms) == (ExitKind.TIMEOUT, 3, 3 * MIN)
    unknown = first_exit(path, Direction.BULLISH, 98.0, 102.0, START, 10 * MIN)
    assert (unknown.kind, unknown.bars) == (ExitKind.DATA_END, 5)
    # A level touched after max_ms does not count.
    late = path_of([(101.0, 99.0, 100.0), (101.0, 99.0, 100.0), (110.0, 99.0, 109.0)])
    assert first_exit(late, Direction.BULLISH, 98.0, 102.0, START, 2 * MIN).kind is ExitKind.TIMEOUT


def test_wilson_interval_known_values() -> None:
    # Reference values (Wilson 1927; e.g. statsmodels proportion_confint(method="wilson")).
    low, high = wilson_interval(8, 10)
    assert (low, high) == (pytest.approx(0.4902, abs=1e-4), pytest.approx(0.9433, abs=1e-4))
    low, high = wilson_interval(0, 20)
    assert low == 0.0
    assert high == pytest.approx(0.1611, abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_evaluate_and_aggregate() -> None:
    path = path_of([(102.5, 99.5, 102.0), (103.0, 101.0, 101.5), (101.0, 97.0, 98.0)])
    winner = evaluate_signal(
        signal(Direction.BULLISH, stop=98.0, target=102.0, confidence=4.0), path, ("1m", "3m", "5m"),
        3 * MIN, "MAJORS",
    )  # fmt: skip
    assert set(winner.horizons) == {"1m", "3m"}  # 5m is beyond the data
    assert winner.exit is not None
    assert winner.exit.kind is ExitKind.TARGET
    loser = evaluate_signal(
        signal(Direction.BEARISH, stop=102.0, target=98.0, confidence=4.0), path, ("1m", "3m"), 3 * MIN,
        "MAJORS",
    )  # fmt: skip
    assert loser.exit is not None
    assert loser.exit.kind is ExitKind.STOP
    rows = {(r.symbol_group, r.bucket, r.horizon): r for r in aggregate([winner, loser])}
    one_minute = rows[("MAJORS", "confidence=4", "1m")]
    assert (one_minute.n, one_minute.hits, one_minute.misses) == (2, 1, 1)
    assert one_minute.mean_return_pct == pytest.approx(0.0)
    assert rows[(ALL, ALL, "3m")].n == 2
    exit_row = rows[(ALL, ALL, EXIT_HORIZON)]
    assert (exit_row.n, exit_row.hits, exit_row.misses) == (2, 1, 1)
    assert exit_row.mean_return_pct is None


def test_entry_falls_back_to_the_bar_close() -> None:
    path = path_of([(101.0, 99.0, 100.0)])
    s = signal(Direction.BULLISH)
    s = Signal(**{f: getattr(s, f) for f in s.__struct_fields__ if f != "metrics"}, metrics={})
    assert evaluate_signal(s, path, ("1m",), MIN, "x").entry == 100.0
    assert math.isnan(evaluate_signal(s, None, ("1m",), MIN, "x").entry)


def test_hit_rate_table_falls_back_to_roll_up() -> None:
    path = path_of([(101.0, 99.0, 100.5)])
    outcomes = [
        evaluate_signal(signal(Direction.BULLISH, confidence=c), path, ("1m",), MIN, "MAJORS")
        for c in (3.0, 3.0, 4.0)
    ]
    table = HitRateTable(aggregate(outcomes), lambda _symbol: "MAJORS", min_count=3)
    row = table.lookup(signal(Direction.BULLISH, confidence=3.0), "1m")
    assert row is not None
    assert (row.symbol_group, row.bucket, row.n, row.hits) == ("MAJORS", ALL, 3, 3)
    assert "n=3" in table.context_line(signal(Direction.BULLISH, confidence=3.0), "1m")
    assert table.context_line(signal(Direction.BULLISH), "15m").endswith("n/a")


def _bisect_span(bars: list[Bar], start_ms: int, end_ms: int) -> tuple[int, int]:
    """The span by plain bisection over every bar, the reference for `PricePath.span`."""
    i = bisect_right([b.open_time_ms for b in bars], start_ms)
    return i, max(i, bisect_right([b.close_time_ms for b in bars], end_ms))


@pytest.mark.parametrize("missing", [set(), {0}, {1, 2, 3}, {7, 20, 21, 39}], ids=str)
def test_span_look_ups_equal_bisection_with_and_without_gaps(missing: set[int]) -> None:
    """`PricePath` looks where the interval says first; gaps (and a gap at the start) fall back to a bisect."""
    bars = [bar(k, 101.0, 99.0, 100.0 + k) for k in range(40) if k not in missing]
    path = PricePath.from_bars(bars)
    probes = range(T0 - 3 * MIN, T0 + 43 * MIN, MIN // 4)
    for start in probes:
        for length in (0, MIN - 1, MIN, 5 * MIN, 17 * MIN):
            assert path.span(start, start + length) == _bisect_span(bars, start, start + length)
        j = _bisect_span(bars, 0, start)[1]
        assert path.close_at_or_before(start) == (bars[j - 1].close if j else None)


def test_all_horizons_at_once_equal_one_at_a_time() -> None:
    """`horizon_outcomes` reads each bar once for nested horizons: the same outcomes, in the given order."""
    rng = random.Random(7)
    rows = []
    for _ in range(280):  # 4h40m after the signal bar: 5h is not covered
        close = 100.0 * (1.0 + rng.gauss(0.0, 0.01))
        rows.append((close * (1.0 + rng.random() / 50), close * (1.0 - rng.random() / 50), close))
    path = path_of(rows)
    horizons = ("4h", "15m", "1h", "15m", "5h", "30s")
    for direction in (Direction.BULLISH, Direction.BEARISH):
        for start in (START, START + 7 * MIN, START + 30 * MIN, START + 100 * MIN, START + 270 * MIN):
            together = horizon_outcomes(path, 100.0, direction, start, horizons)
            one_by_one = {h: horizon_outcome(path, 100.0, direction, start, h) for h in horizons}
            assert together == {h: o for h, o in one_by_one.items() if o is not None}
            assert list(together) == [h for h in dict.fromkeys(horizons) if one_by_one[h] is not None]
    assert list(horizon_outcomes(path, 100.0, Direction.BULLISH, START, horizons)) == ["4h", "15m", "1h"]
    assert horizon_outcomes(path, 0.0, Direction.BULLISH, START, horizons) == {}
