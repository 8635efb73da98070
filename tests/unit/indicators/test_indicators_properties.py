"""Properties every indicator keeps on arbitrary input: readiness, reset, the NaN policy, edge cases."""

from __future__ import annotations

import copy
import math
import pickle
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cryptoradar.indicators as indicators
from cryptoradar.indicators import (
    ADX,
    ATR,
    EMA,
    RMA,
    ROC,
    RSI,
    SMA,
    VWAP,
    EfficiencyRatio,
    Indicator,
    NonFiniteInputError,
    RollingStats,
    TrueRange,
    ZScore,
)

MINUTE_MS = 60_000


@dataclass(frozen=True)
class Case:
    """How to build an indicator, how many updates it needs, and how to feed it one value."""

    name: str
    make: Callable[[], Indicator]
    warmup: int
    shape: str  # "value": update(x); "bar": update(h, l, c); "vwap": update(h, l, c, v, ts_ms)


P = 5
CASES = [
    Case("SMA", lambda: SMA(P), P, "value"),
    Case("EMA-talib", lambda: EMA(P), P, "value"),
    Case("EMA-first", lambda: EMA(P, seed="first"), 1, "value"),
    Case("RMA", lambda: RMA(P), P, "value"),
    Case("RSI", lambda: RSI(P), P + 1, "value"),
    Case("ROC", lambda: ROC(P), P + 1, "value"),
    Case("EfficiencyRatio", lambda: EfficiencyRatio(P), P + 1, "value"),
    Case("RollingStats", lambda: RollingStats(P), P, "value"),
    Case("RollingStats-sample", lambda: RollingStats(P, ddof=1), P, "value"),
    Case("ZScore", lambda: ZScore(P), P + 1, "value"),
    Case("ZScore-including", lambda: ZScore(P, include_current=True), P, "value"),
    Case("TrueRange", TrueRange, 2, "bar"),
    Case("ATR", lambda: ATR(P), P + 1, "bar"),
    Case("ADX", lambda: ADX(P), 2 * P, "bar"),
    Case("VWAP", VWAP, 1, "vwap"),
]
IDS = [case.name for case in CASES]


def bar_args(values: Sequence[float], i: int, shape: str) -> tuple[float, ...]:
    """Input i of the series as the arguments of `update` for the given shape."""
    x = values[i]
    if shape == "value":
        return (x,)
    prev = values[i - 1] if i else x
    bar = (max(x, prev), min(x, prev), x)
    return bar if shape == "bar" else (*bar, abs(x), i * MINUTE_MS)


def update(indicator: Indicator, args: tuple[float, ...]) -> float:
    result: float = indicator.update(*args)  # type: ignore[attr-defined]
    return result


def feed(indicator: Indicator, values: Sequence[float], shape: str) -> list[float]:
    return [update(indicator, bar_args(values, i, shape)) for i in range(len(values))]


def same_outputs(a: Sequence[float], b: Sequence[float]) -> bool:
    return len(a) == len(b) and all(
        x == y or (math.isnan(x) and math.isnan(y)) for x, y in zip(a, b, strict=True)
    )


prices = st.floats(min_value=1e-8, max_value=1e8, allow_nan=False)
jumpy = st.one_of(st.floats(min_value=1e-8, max_value=1e-7), st.floats(min_value=1e7, max_value=1e8))
series = st.lists(st.one_of(prices, jumpy), max_size=60)


def test_public_names_and_contract() -> None:
    assert sorted(indicators.__all__) == sorted(set(indicators.__all__))
    for case in CASES:
        indicator = case.make()
        assert isinstance(indicator, Indicator)
        assert not indicator.ready
        assert math.isnan(indicator.value)
        assert indicator.warmup == case.warmup  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "make",
    [
        lambda: SMA(0),
        lambda: EMA(3, seed="pandas"),
        lambda: RSI(1),
        lambda: ADX(1),
        lambda: RollingStats(1, ddof=1),
        lambda: RollingStats(5, ddof=-1),
        lambda: VWAP(session_ms=0),
    ],
)
def test_invalid_parameters_are_rejected(make: Callable[[], object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the constructors' documented error type
        make()


@pytest.mark.parametrize(
    "make",
    [lambda: ROC(2.5), lambda: ATR("14")],  # type: ignore[arg-type]
)
def test_a_period_that_is_not_an_int_is_a_type_error(make: Callable[[], object]) -> None:
    """Interpreted and compiled alike (compiled, mypyc checks the type at the call, with its own message)."""
    with pytest.raises(TypeError):
        make()


@pytest.mark.parametrize("case", CASES, ids=IDS)
@settings(max_examples=40, deadline=None)
@given(values=series)
def test_ready_flips_exactly_at_warmup_and_value_is_nan_until_then(case: Case, values: list[float]) -> None:
    if case.shape == "vwap":
        values = [max(v, 1e-8) for v in values]  # positive volume: ready from the first bar
    indicator = case.make()
    for i in range(len(values)):
        value = update(indicator, bar_args(values, i, case.shape))
        assert indicator.ready == (i + 1 >= case.warmup)
        assert math.isnan(value) == (not indicator.ready)
        assert value == indicator.value or math.isnan(value)


@pytest.mark.parametrize("case", CASES, ids=IDS)
@settings(max_examples=30, deadline=None)
@given(values=series, earlier=series)
def test_reset_replays_identically(case: Case, values: list[float], earlier: list[float]) -> None:
    expected = feed(case.make(), values, case.shape)
    indicator = case.make()
    feed(indicator, earlier, case.shape)
    indicator.reset()
    assert not indicator.ready
    assert math.isnan(indicator.value)
    assert same_outputs(feed(indicator, values, case.shape), expected)


@pytest.mark.parametrize("case", CASES, ids=IDS)
@settings(max_examples=20, deadline=None)
@given(values=series, later=series)
def test_copies_and_pickles_carry_the_whole_state(
    case: Case, values: list[float], later: list[float]
) -> None:
    """The simulator deep-copies indicators; compiled classes need `__reduce__` for it (see base.py)."""
    indicator = case.make()
    feed(indicator, values, case.shape)
    copies = [copy.deepcopy(indicator), pickle.loads(pickle.dumps(indicator))]
    expected = feed(indicator, values + later, case.shape)[len(values) :]
    for twin in copies:
        assert type(twin) is type(indicator)
        assert same_outputs(feed(twin, values + later, case.shape)[len(values) :], expected)


@pytest.mark.parametrize("case", CASES, ids=IDS)
@settings(max_examples=30, deadline=None)
@given(
    values=st.lists(prices, min_size=1, max_size=30),
    at=st.integers(min_value=0, max_value=29),
    bad=st.sampled_from([math.nan, math.inf, -math.inf]),
    field=st.integers(min_value=0, max_value=3),
)
def test_non_finite_input_is_rejected_without_changing_state(
    case: Case, values: list[float], at: int, bad: float, field: int
) -> None:
    at = min(at, len(values) - 1)
    clean = case.make()
    expected = feed(clean, values, case.shape)
    indicator = case.make()
    outputs = feed(indicator, values[:at], case.shape)
    args = list(bar_args(values, at, case.shape))
    args[field % min(len(args), 4)] = bad  # any float field; VWAP's ts_ms is an int
    with pytest.raises(NonFiniteInputError):
        update(indicator, tuple(args))
    outputs += [update(indicator, bar_args(values, i, case.shape)) for i in range(at, len(values))]
    assert same_outputs(outputs, expected)


@settings(max_examples=40, deadline=None)
@given(level=prices, n=st.integers(min_value=2 * P + 1, max_value=40))
def test_flat_series(level: float, n: int) -> None:
    """No movement: RSI 0 (as TA-Lib), std and z-score exactly 0, ER 0, ADX/ATR/ROC 0."""
    values = [level] * n
    cases = {case.name: case for case in CASES}

    def last(name: str) -> float:
        return feed(cases[name].make(), values, cases[name].shape)[-1]

    for name in ("RSI", "ROC", "EfficiencyRatio", "ZScore", "ZScore-including", "TrueRange", "ATR", "ADX"):
        assert last(name) == 0.0, name
    for ddof in (0, 1):
        stats = RollingStats(P, ddof=ddof)
        feed(stats, values, "value")
        assert stats.std == 0.0
        assert stats.zscore(level) == 0.0
        assert stats.zscore(level * 2.0) == 0.0
    for name in ("SMA", "EMA-talib", "EMA-first", "RMA", "RollingStats", "VWAP"):
        assert last(name) == pytest.approx(level, rel=1e-14), name  # a few ulps of averaging


@settings(max_examples=60, deadline=None)
@given(values=st.lists(jumpy, min_size=P, max_size=80))
def test_rolling_windows_stay_exact_across_huge_jumps(values: list[float]) -> None:
    """1e-8 <-> 1e8 jumps: rounding from values that left the window never lingers."""
    sma, stats = SMA(P), RollingStats(P, ddof=1)
    for i, x in enumerate(values):
        sma.update(x)
        stats.update(x)
        if i + 1 < P:
            continue
        window = np.array(values[i + 1 - P : i + 1])
        # Errors are rounding of values seen since the last exact re-sum (at most 2 windows back).
        recent = max(values[max(0, i + 1 - 2 * P) : i + 1])
        assert sma.value == pytest.approx(window.mean(), rel=1e-12, abs=1e-14 * recent)
        assert stats.mean == pytest.approx(window.mean(), rel=1e-12, abs=1e-14 * recent)
        assert stats.std == pytest.approx(window.std(ddof=1), rel=1e-6, abs=1e-14 * recent)


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.one_of(prices, jumpy), min_size=1, max_size=80))
def test_bounded_outputs_on_arbitrary_series(values: list[float]) -> None:
    rsi, er, adx = RSI(P), EfficiencyRatio(P), ADX(P)
    for i, x in enumerate(values):
        high, low, close = bar_args(values, i, "bar")
        outputs = ((rsi.update(x), 100.0), (er.update(x), 1.0), (adx.update(high, low, close), 100.0))
        for value, upper in outputs:
            assert math.isnan(value) or 0.0 <= value <= upper


def test_rolling_stats_stay_exact_over_many_updates() -> None:
    """200k updates on a large offset (the worst case for naive sum-of-squares)."""
    rng = np.random.default_rng(5)
    values = (1e6 + rng.normal(0.0, 1e-3, 200_000)).tolist()
    stats, zscore = RollingStats(50, ddof=1), ZScore(50, ddof=1)
    for x in values:
        stats.update(x)
        zscore.update(x)
    window = np.array(values[-50:])
    assert stats.mean == pytest.approx(window.mean(), rel=1e-15)
    assert stats.std == pytest.approx(window.std(ddof=1), rel=1e-9)
    previous = np.array(values[-51:-1])
    # x - mean cancels 9 digits here (1e6 vs 1e-3): any float64 z-score is good to ~1e-7 only.
    reference = (values[-1] - previous.mean()) / previous.std(ddof=1)
    assert zscore.value == pytest.approx(reference, abs=1e-6)
