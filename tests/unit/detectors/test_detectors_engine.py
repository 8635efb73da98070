"""DetectorSet: routing, signal counting, flush, and properties over random event streams."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable

import msgspec
import pytest
from detector_factories import NS_PER_MS, NS_PER_S, bar, confluence_bars, liquidation, momentum_bars, trade
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cryptoradar.config.detectors import (
    ConfluenceConfig,
    DetectorsConfig,
    GroupThresholds,
    MomentumConfig,
    RadarConfig,
)
from cryptoradar.core.metrics import SIGNALS
from cryptoradar.detectors import DetectorSet
from cryptoradar.events import BookTicker, Event, Liquidation, Market, Side, Signal, encode

T = 1_767_225_600 * NS_PER_S


def signals_total(detector: str, kind: str) -> float:
    return float(SIGNALS.labels(detector, kind)._value.get())


def test_routes_each_event_to_its_detectors_and_counts_signals() -> None:
    engine = DetectorSet(DetectorsConfig())
    before = signals_total("futures_radar", "large_liquidation")
    out = engine.on_event(liquidation("BTCUSDT", T, 600_000))
    assert [s.kind for s in out] == ["large_liquidation"]
    assert signals_total("futures_radar", "large_liquidation") - before == 1

    confluence = [s for b in confluence_bars() for s in engine.on_event(b)]
    assert [s.detector for s in confluence] == ["confluence"]

    held = [s for b in momentum_bars("AAAUSDT") + momentum_bars("BBBUSDT") for s in engine.on_event(b)]
    assert held == []
    close_ms = momentum_bars()[-1].close_time_ms
    # Any event type advances the grouping clock: a book ticker 2 s after the close releases the group.
    book = BookTicker(Market.SPOT, "BTCUSDT", 1, 1.0, 1.0, 1.1, 1.0, (close_ms + 2000) * NS_PER_MS, 0)
    released = engine.on_event(book)
    assert [(s.kind, s.symbols) for s in released] == [("momentum_group", ("AAAUSDT", "BBBUSDT"))]


def test_flush_releases_what_is_held() -> None:
    engine = DetectorSet(DetectorsConfig())
    for b in momentum_bars():
        engine.on_event(b)
    assert [s.kind for s in engine.flush()] == ["momentum"]
    assert engine.flush() == []


def test_disabled_detectors_are_not_built() -> None:
    cfg = DetectorsConfig(
        radar=RadarConfig(enabled=False),
        confluence=ConfluenceConfig(enabled=False),
        momentum=MomentumConfig(enabled=False),
    )
    engine = DetectorSet(cfg)
    assert (engine.radar, engine.confluence, engine.momentum) == (None, None, None)
    assert engine.on_event(liquidation("BTCUSDT", T, 1e9)) == []
    assert engine.on_event(trade("BTCUSDT", T, 1e9)) == []
    assert [s for b in confluence_bars() for s in engine.on_event(b)] == []
    assert engine.flush() == []


# -- properties -----------------------------------------------------------------------------------

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
}
_TINY = GroupThresholds(
    large_liquidation_usd=500,
    whale_trade_usd=500,
    cluster_trade_min_usd=200,
    storm_min_usd=800,
    storm_min_count=2,
    cluster_min_usd=800,
    cluster_min_count=2,
)
# Thresholds low enough that random streams actually produce every kind of signal.
_EAGER = DetectorsConfig(
    radar=RadarConfig(majors=_TINY.model_copy(update={"symbols": ("AUSDT",)}), other=_TINY),
    confluence=ConfluenceConfig(
        symbols=("AUSDT", "BUSDT"),
        ema_fast_period=2,
        ema_slow_period=3,
        ema_trend_period=4,
        volume_ma_period=2,
        rsi_period=2,
        rsi_low=0,
        rsi_high=100,
        atr_period=2,
        repeat_cooldown_s=60,
    ),
    momentum=MomentumConfig(
        lookback_bars=2,
        min_move_pct=0.5,
        atr_period=2,
        volume_z_period=2,
        min_volume_z=-10,
        min_quote_volume=0,
        trend_timeframes=("15m",),
        trend_ema_period=2,
        adx_period=2,
        cooldown_s=60,
    ),
)
_SYMBOLS = ("AUSDT", "BUSDT")
_INTERVALS = ("1m", "15m")
# Mostly plausible values, one in sixteen hostile.
_values = st.tuples(
    st.integers(min_value=0, max_value=15),
    st.floats(min_value=0.5, max_value=2.0),
    st.sampled_from([0.0, -1.0, math.nan, math.inf, 1e12]),
).map(lambda v: v[2] if v[0] == 0 else v[1])
_steps = st.lists(
    st.tuples(
        st.sampled_from(["bar", "bar", "bar", "trade", "liq", "book"]),
        st.sampled_from(_SYMBOLS),
        st.sampled_from(_INTERVALS),
        st.sampled_from([1, 1, 1, 1, 2, 0, -1]),  # bar index step (0, -1: a duplicate, a stale bar)
        st.integers(min_value=0, max_value=40_000),  # ms between events
        _values,
        _values,
        st.booleans(),
    ),
    min_size=50,
    max_size=300,
)


def _events(steps: list[tuple[str, str, str, int, int, float, float, bool]]) -> list[Event]:
    index: dict[tuple[str, str], int] = {}
    now_ns = T
    out: list[Event] = []
    for kind, symbol, interval, step, dt_ms, a, b, flag in steps:
        now_ns += dt_ms * NS_PER_MS
        if kind == "bar":
            i = index[(symbol, interval)] = max(0, index.get((symbol, interval), 0) + step)
            close = 100.0 * a
            out.append(bar(symbol, interval, i, close, open_=100.0, volume=1000.0 * b, closed=flag))
        elif kind == "trade":
            out.append(trade(symbol, now_ns, 400.0 * a * b, buy=flag))
        elif kind == "liq":
            side = Side.BUY if flag else Side.SELL
            out.append(
                Liquidation(Market.USDM, symbol, side, b, b, 400.0 * a, 400.0 * a, "FILLED", now_ns, now_ns)
            )
        else:
            out.append(BookTicker(Market.USDM, symbol, 1, a, 1.0, b, 1.0, now_ns, now_ns))
    return out


def _check(signal: Signal) -> None:
    assert signal.conditions, signal
    for c in signal.conditions:
        assert c.passed, c
        assert _OPS[c.op](c.value, c.threshold), c
    assert signal.symbol == signal.symbols[0]
    assert signal.window_start_ms <= signal.window_end_ms
    assert all(math.isfinite(v) for v in signal.metrics.values()), signal.metrics


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_steps)
def test_random_streams_never_raise_and_every_condition_held(
    steps: list[tuple[str, str, str, int, int, float, float, bool]],
) -> None:
    engine = DetectorSet(_EAGER)
    for event in _events(steps):
        for signal in engine.on_event(event):
            _check(signal)
    for signal in engine.flush():
        _check(signal)


def test_random_streams_do_produce_signals() -> None:
    """Guards the property above against passing vacuously: the eager config does fire."""
    steps = [("liq", "AUSDT", "1m", 0, 100, 2.0, 1.0, False)] * 3
    steps += [("trade", "AUSDT", "1m", 0, 100, 2.0, 1.0, True)] * 3
    steps += [("bar", "BUSDT", "15m", 1, 0, 1.0 + 0.05 * (i % 7), 1.0 + (i % 3), True) for i in range(40)]
    steps += [("bar", "AUSDT", "1m", 1, 0, 1.0 + 0.05 * (i % 5), 1.0 + (i % 4), True) for i in range(40)]
    kinds: set[str] = set()
    engine = DetectorSet(_EAGER)
    for event in _events(steps):
        kinds |= {s.kind for s in engine.on_event(event)}
    kinds |= {s.kind for s in engine.flush()}
    assert {
        "large_liquidation",
        "liquidation_storm",
        "whale_trade",
        "whale_cluster",
        "radar",
        "momentum",
        "confluence",
    } <= kinds


def test_signals_round_trip_through_msgspec() -> None:
    engine = DetectorSet(_EAGER)
    steps = [("liq", "AUSDT", "1m", 0, 100, 2.0, 1.0, False)] * 3
    steps += [("bar", "BUSDT", "15m", 1, 0, 1.0 + 0.05 * (i % 7), 1.0 + (i % 3), True) for i in range(20)]
    signals = [s for e in _events(steps) for s in engine.on_event(e)] + engine.flush()
    assert signals
    decoder = msgspec.json.Decoder(Signal)
    for s in signals:
        assert decoder.decode(encode(s)) == s


def test_config_rejects_nonsense_with_the_key() -> None:
    with pytest.raises(ValueError, match="catch-all"):
        RadarConfig(other=_TINY.model_copy(update={"symbols": ("XUSDT",)}))
    with pytest.raises(ValueError, match="ema_fast_period must be below ema_slow_period"):
        ConfluenceConfig(ema_fast_period=21, ema_slow_period=9)
    with pytest.raises(ValueError, match="rsi_low must be below rsi_high"):
        ConfluenceConfig(rsi_low=70, rsi_high=30)
    with pytest.raises(ValueError, match="extra"):
        DetectorsConfig.model_validate({"radar": {"window_secs": 30}})
