"""VWAP edge cases: zero volume, session boundaries, rejected bars."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cryptoradar.indicators import VWAP, NonFiniteInputError

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
T0 = 1_767_225_600_000  # 2026-01-01 00:00 UTC


@settings(max_examples=60, deadline=None)
@given(
    bars=st.lists(
        st.tuples(
            st.floats(min_value=1e-8, max_value=1e8),
            st.sampled_from([0.0, 0.0, 1e-8, 1.0, 1e8]),
        ),
        max_size=40,
    )
)
def test_zero_volume_bars_change_nothing(bars: list[tuple[float, float]]) -> None:
    """Undefined (nan, not ready) until volume trades; zero-volume bars leave the VWAP as it was."""
    vwap = VWAP()
    sum_pv = sum_v = 0.0
    for i, (price, volume) in enumerate(bars):
        before = vwap.value
        value = vwap.update(price * 1.01, price * 0.99, price, volume, T0 + i * 60_000)
        sum_v += volume
        sum_pv += (price * 1.01 + price * 0.99 + price) / 3.0 * volume
        if sum_v == 0.0:
            assert math.isnan(value)
            assert not vwap.ready
        elif volume == 0.0:
            assert value == before
        else:
            assert value == pytest.approx(sum_pv / sum_v, rel=1e-12)


def test_session_boundary_restarts_the_average() -> None:
    vwap = VWAP()
    vwap.update(11.0, 9.0, 10.0, 5.0, T0 + DAY_MS - 60_000)
    assert vwap.value == 10.0
    assert vwap.session_start_ms == T0
    # First bar of the next UTC day has no volume: the new session has no VWAP yet.
    assert math.isnan(vwap.update(21.0, 19.0, 20.0, 0.0, T0 + DAY_MS))
    assert not vwap.ready
    assert vwap.session_start_ms == T0 + DAY_MS
    assert vwap.update(31.0, 29.0, 30.0, 2.0, T0 + DAY_MS + 60_000) == 30.0


def test_custom_session_and_offset() -> None:
    """4h sessions starting at 00:30 UTC: 04:29 and 04:30 fall in different sessions."""
    vwap = VWAP(session_ms=4 * HOUR_MS, offset_ms=30 * 60_000)
    vwap.update(2.0, 2.0, 2.0, 1.0, T0 + 4 * HOUR_MS + 29 * 60_000)
    vwap.update(4.0, 4.0, 4.0, 1.0, T0 + 4 * HOUR_MS + 29 * 60_000 + 30_000)
    assert vwap.value == 3.0
    vwap.update(8.0, 8.0, 8.0, 1.0, T0 + 4 * HOUR_MS + 30 * 60_000)
    assert vwap.value == 8.0
    assert vwap.session_start_ms == T0 + 4 * HOUR_MS + 30 * 60_000


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ((10.0, 9.0, 9.5, -1.0, T0 + DAY_MS), ValueError),
        ((10.0, 9.0, 9.5, 1.0, T0 - 1), ValueError),
        ((10.0, math.nan, 9.5, 1.0, T0 + DAY_MS), NonFiniteInputError),
        ((10.0, 9.0, 9.5, math.inf, T0 + DAY_MS), NonFiniteInputError),
    ],
)
def test_rejected_bars_leave_state_unchanged(
    args: tuple[float, float, float, float, int], error: type
) -> None:
    vwap = VWAP()
    vwap.update(3.0, 1.0, 2.0, 4.0, T0)
    with pytest.raises(error):
        vwap.update(*args)
    assert vwap.value == 2.0
    assert vwap.session_start_ms == T0
    assert vwap.update(3.0, 3.0, 3.0, 4.0, T0 + 60_000) == 2.5
