"""Momentum rules: each gate, its boundary, the cooldown and cross-symbol grouping on event time."""

from __future__ import annotations

import math

import msgspec
import pytest
from detector_factories import INTERVAL_MS, MOMENTUM_WARMUP_BARS, NS_PER_MS, bar, momentum_bars

from cryptoradar.config.detectors import MomentumConfig
from cryptoradar.detectors.momentum import MomentumDetector
from cryptoradar.events import Bar, Direction, Signal

STEP_15M = INTERVAL_MS["15m"]


def feed(det: MomentumDetector, bars: list[Bar]) -> list[Signal]:
    out: list[Signal] = []
    for b in bars:
        out += det.on_bar(b)
    return out


def run(bars: list[Bar], cfg: MomentumConfig | None = None) -> list[Signal]:
    det = MomentumDetector(cfg or MomentumConfig())
    out = feed(det, bars)
    return out + det.flush(math.inf)


def test_positive_case_records_every_gate() -> None:
    bars = momentum_bars()
    (sig,) = run(bars)
    assert (sig.kind, sig.direction, sig.symbol) == ("momentum", Direction.BULLISH, "AAAUSDT")
    assert sig.window_end_ms == bars[-1].close_time_ms
    assert sig.window_start_ms == bars[-1].open_time_ms - 7 * STEP_15M
    assert [c.name for c in sig.conditions] == [
        "move_pct",
        "volume_z",
        "quote_volume",
        "trend_15m_close_vs_ema_pct",
        "trend_1h_close_vs_ema_pct",
    ]
    assert all(c.passed for c in sig.conditions)
    assert sig.metrics["move_pct"] == 5.0
    assert sig.metrics["volume_z"] == pytest.approx(3.0)
    primary = [b for b in bars if b.interval == "15m"]
    previous_volumes = [b.volume for b in primary[-21:-1]]
    mean_volume = sum(previous_volumes) / len(previous_volumes)
    assert sig.metrics["volume_pct"] == pytest.approx((primary[-1].volume / mean_volume - 1.0) * 100.0)
    # 4 x 5/10 + 3 x 3/4 + 2 (aligned) + 0 (ADX ranging) = 6.25
    assert sig.metrics["strength"] == pytest.approx(6.2)
    assert sig.labels["regime"] == "ranging"


def test_bearish_mirror() -> None:
    (sig,) = run(momentum_bars(final_close=95.0))
    assert sig.direction is Direction.BEARISH
    assert sig.metrics["move_pct"] == -5.0
    assert sig.conditions[0].value == 5.0


def test_move_threshold_is_inclusive() -> None:
    assert run(momentum_bars(final_close=104.99)) == []
    assert len(run(momentum_bars(final_close=105.0))) == 1


def test_atr_mode() -> None:
    cfg = MomentumConfig(move_mode="atr", min_move_atr=3.0)
    (sig,) = run(momentum_bars(final_close=104.0), cfg)  # ATR (13 + 4) / 14: move 3.29 ATR
    assert sig.conditions[0].name == "move_atr"
    assert sig.conditions[0].value == pytest.approx(4 / (17 / 14))
    assert run(momentum_bars(final_close=104.0)) == []  # raw mode: 4 % < 5 %
    assert run(momentum_bars(final_close=103.0), cfg) == []  # 3 / (16 / 14) = 2.63 ATR


def test_volume_z_threshold_is_inclusive() -> None:
    assert len(run(momentum_bars(final_volume=1200.0))) == 1  # z = 2.0 exactly
    assert run(momentum_bars(final_volume=1199.0)) == []


def test_liquidity_check() -> None:
    # Same shape a tenth of the size: z-score 3.0 again, quote volume 82,650 < 500,000.
    assert run(momentum_bars(base_volume=100.0, final_volume=130.0)) == []
    assert (
        len(
            run(momentum_bars(base_volume=100.0, final_volume=130.0), MomentumConfig(min_quote_volume=80_000))
        )
        == 1
    )


def test_higher_timeframe_must_agree() -> None:
    assert run(momentum_bars(hourly_final_close=99.0)) == []
    assert run(momentum_bars(hourly=False)) == []  # no 1h trend known yet: not aligned
    assert len(run(momentum_bars(hourly=False), MomentumConfig(trend_timeframes=("15m",)))) == 1


def test_primary_timeframe_trend_must_agree() -> None:
    bars = momentum_bars(early_close=110.0)  # the 15m EMA(50) still sits above 105
    assert run(bars) == []
    assert len(run(bars, MomentumConfig(trend_timeframes=("1h",)))) == 1


def test_cooldown_30_min_on_bar_time() -> None:
    bars = momentum_bars()
    n = MOMENTUM_WARMUP_BARS
    follow = [
        bar("AAAUSDT", "15m", n + 1, 110.0, open_=105.0, volume=3000.0),
        bar("AAAUSDT", "15m", n + 2, 115.0, open_=110.0, volume=5000.0),
    ]
    fired = [s.window_end_ms for s in run([*bars, *follow])]
    # The next bar (15 min later) is inside the cooldown; exactly 30 min later is allowed again.
    assert fired == [bars[-1].close_time_ms, follow[1].close_time_ms]
    assert len(run([*bars, *follow], MomentumConfig(cooldown_s=0))) == 3


# -- grouping -------------------------------------------------------------------------------------


def test_symbols_moving_together_give_one_grouped_signal() -> None:
    det = MomentumDetector(MomentumConfig())
    setups = {
        "AAAUSDT": momentum_bars("AAAUSDT", final_close=105.0),
        "BBBUSDT": momentum_bars("BBBUSDT", final_close=108.0),
        "CCCUSDT": momentum_bars("CCCUSDT", final_close=106.0),
        "DDDUSDT": momentum_bars("DDDUSDT", final_close=94.0),
    }
    for bars in setups.values():
        assert feed(det, bars) == []
    assert det.pending_count() == 4
    close_ms = setups["AAAUSDT"][-1].close_time_ms
    wait_ms = MomentumConfig().group_wait_ms
    assert det.on_time((close_ms + wait_ms - 1) * NS_PER_MS) == []
    out = det.on_time((close_ms + wait_ms) * NS_PER_MS)
    assert [(s.kind, s.direction) for s in out] == [
        ("momentum_group", Direction.BULLISH),
        ("momentum", Direction.BEARISH),
    ]
    group = out[0]
    assert group.symbols == ("BBBUSDT", "CCCUSDT", "AAAUSDT")  # strongest first
    assert group.symbol == "BBBUSDT"
    assert group.metrics["group_size"] == 3
    assert group.metrics["move_pct:AAAUSDT"] == 5.0
    assert group.conditions[0].name == "group_size"
    assert det.pending_count() == 0


def test_a_later_bar_flushes_and_a_late_bar_goes_out_alone() -> None:
    det = MomentumDetector(MomentumConfig())
    a = momentum_bars("AAAUSDT")
    b = momentum_bars("BBBUSDT")
    feed(det, a)
    nxt = bar("ZZZUSDT", "15m", MOMENTUM_WARMUP_BARS + 1, 1.0)
    released = det.on_bar(nxt)
    assert [s.symbols for s in released] == [("AAAUSDT",)]
    late = feed(det, b)
    assert [(s.kind, s.symbols) for s in late] == [("momentum", ("BBBUSDT",))]


def test_group_min_symbols() -> None:
    bars = momentum_bars("AAAUSDT") + momentum_bars("BBBUSDT")
    assert [s.kind for s in run(bars)] == ["momentum_group"]
    assert [s.kind for s in run(bars, MomentumConfig(group_min_symbols=3))] == ["momentum", "momentum"]


# -- robustness and memory ------------------------------------------------------------------------


def test_bad_and_duplicate_bars_are_dropped() -> None:
    bars = momentum_bars()
    det = MomentumDetector(MomentumConfig())
    feed(det, bars[:-1])
    assert det.on_bar(msgspec.structs.replace(bars[-1], high=math.inf)) == []
    assert det.on_bar(msgspec.structs.replace(bars[-1], quote_volume=math.nan)) == []
    assert det.on_bar(bars[-2]) == []
    det.on_bar(bars[-1])
    assert det.on_bar(bars[-1]) == []  # the same bar twice is one candidate
    assert len(det.flush(math.inf)) == 1


def test_state_stays_bounded_with_1000_symbols() -> None:
    det = MomentumDetector(MomentumConfig(trend_timeframes=("15m",)))
    symbols = [f"S{i:04d}USDT" for i in range(1000)]
    emitted = 0
    for i in range(70):
        # Every symbol jumps 6 % on bar 55 with a volume spike: 1,000 candidates, one grouped signal.
        close = 106.0 if i >= 55 else 100.0
        for s in symbols:
            out = det.on_bar(
                bar(
                    s,
                    "15m",
                    i,
                    close,
                    high=close + 0.5,
                    low=close - 0.5,
                    volume=5000.0 if i == 55 else 1000.0 + i % 2,
                    quote_volume=1e6,
                )
            )
            emitted += len(out)
        assert det.pending_count() <= 1000
    assert emitted == 1
    assert det.state_sizes() == (1000, 1000, 1000)
    det.on_time((bar("X", "15m", 200, 1.0).close_time_ms + 2000) * NS_PER_MS)
    assert det.pending_count() == 0
