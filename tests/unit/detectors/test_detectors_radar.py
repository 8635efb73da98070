"""Futures radar rules: each threshold, window edge and cooldown edge, exactly."""

from __future__ import annotations

import math

import pytest
from detector_factories import NS_PER_S, liquidation, trade

from cryptoradar.config.detectors import GroupThresholds, RadarConfig
from cryptoradar.detectors.base import INPUTS_DROPPED
from cryptoradar.detectors.radar import FuturesRadar, RadarKind, RadarPattern
from cryptoradar.events import Direction, Market, Side, Signal

T = 1_767_225_600 * NS_PER_S
WINDOW_NS = 30 * NS_PER_S


def kinds(signals: list[Signal]) -> list[str]:
    return [s.kind for s in signals]


def by_kind(signals: list[Signal], kind: RadarKind) -> Signal:
    (found,) = [s for s in signals if s.kind == kind]
    return found


@pytest.fixture
def radar() -> FuturesRadar:
    return FuturesRadar(RadarConfig())


# -- large liquidation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("symbol", "threshold"),
    [("BTCUSDT", 500_000), ("SOLUSDT", 300_000), ("NEARUSDT", 100_000), ("SOMEUSDT", 50_000)],
)
def test_large_liquidation_threshold_per_group(symbol: str, threshold: float) -> None:
    below = FuturesRadar(RadarConfig()).on_liquidation(liquidation(symbol, T, threshold * 0.999))
    assert RadarKind.LARGE_LIQUIDATION not in kinds(below)
    at = FuturesRadar(RadarConfig()).on_liquidation(liquidation(symbol, T, threshold))
    sig = by_kind(at, RadarKind.LARGE_LIQUIDATION)
    assert sig.direction is Direction.BEARISH  # SELL: a long was liquidated
    assert sig.conditions[0].threshold == threshold
    assert sig.conditions[0].value == pytest.approx(threshold)


def test_large_liquidation_short_is_bullish(radar: FuturesRadar) -> None:
    sig = by_kind(
        radar.on_liquidation(liquidation("BTCUSDT", T, 600_000, side=Side.BUY)), RadarKind.LARGE_LIQUIDATION
    )
    assert sig.direction is Direction.BULLISH
    assert sig.labels["liquidated"] == "short"


def test_large_liquidation_cooldown_is_300s_inclusive(radar: FuturesRadar) -> None:
    assert radar.on_liquidation(liquidation("BTCUSDT", T, 600_000))
    just_before = radar.on_liquidation(liquidation("BTCUSDT", T + 300 * NS_PER_S - 1, 600_000))
    assert RadarKind.LARGE_LIQUIDATION not in kinds(just_before)
    at = radar.on_liquidation(liquidation("BTCUSDT", T + 300 * NS_PER_S, 600_000))
    assert RadarKind.LARGE_LIQUIDATION in kinds(at)


# -- whale trade ----------------------------------------------------------------------------------


def test_whale_trade_threshold_and_direction(radar: FuturesRadar) -> None:
    assert radar.on_trade(trade("BTCUSDT", T, 999_999)) == []
    sig = by_kind(radar.on_trade(trade("BTCUSDT", T + 1, 1_000_000, buy=False)), RadarKind.WHALE_TRADE)
    assert sig.direction is Direction.BEARISH
    assert sig.labels["taker_side"] == "SELL"


def test_whale_trade_cooldown_is_600s_inclusive(radar: FuturesRadar) -> None:
    assert RadarKind.WHALE_TRADE in kinds(radar.on_trade(trade("ETHUSDT", T, 2_000_000)))
    assert RadarKind.WHALE_TRADE not in kinds(radar.on_trade(trade("ETHUSDT", T + 600 * NS_PER_S - 1, 2e6)))
    assert RadarKind.WHALE_TRADE in kinds(radar.on_trade(trade("ETHUSDT", T + 600 * NS_PER_S, 2e6)))


def test_spot_trades_are_ignored(radar: FuturesRadar) -> None:
    assert radar.on_trade(trade("BTCUSDT", T, 5e6, market=Market.SPOT)) == []
    assert radar.tracked_symbols() == 0


# -- storm ----------------------------------------------------------------------------------------


def test_storm_fires_on_min_count_and_notional(radar: FuturesRadar) -> None:
    assert RadarKind.LIQUIDATION_STORM not in kinds(radar.on_liquidation(liquidation("BTCUSDT", T, 1e6)))
    out = radar.on_liquidation(liquidation("BTCUSDT", T + NS_PER_S, 1e6, side=Side.BUY))
    storm = by_kind(out, RadarKind.LIQUIDATION_STORM)
    assert storm.metrics["storm_notional_usd"] == 2e6
    assert storm.metrics["storm_long_liq_usd"] == 1e6
    assert storm.metrics["storm_short_liq_usd"] == 1e6
    assert storm.direction is Direction.NEUTRAL
    assert storm.timeframe == "30s"
    assert storm.window_start_ms == T // 1_000_000
    assert all(c.passed for c in storm.conditions)
    assert {c.name for c in storm.conditions} == {"storm_notional_usd", "storm_count"}


def test_storm_needs_count(radar: FuturesRadar) -> None:
    out = radar.on_liquidation(liquidation("BTCUSDT", T, 5e6))
    assert RadarKind.LARGE_LIQUIDATION in kinds(out)
    assert RadarKind.LIQUIDATION_STORM not in kinds(out)


def test_storm_needs_notional(radar: FuturesRadar) -> None:
    radar.on_liquidation(liquidation("BTCUSDT", T, 1e6))
    out = radar.on_liquidation(liquidation("BTCUSDT", T + NS_PER_S, 999_999))
    assert RadarKind.LIQUIDATION_STORM not in kinds(out)


def test_storm_window_edge_is_exactly_30s(radar: FuturesRadar) -> None:
    radar.on_liquidation(liquidation("BTCUSDT", T, 1e6))
    out = radar.on_liquidation(liquidation("BTCUSDT", T + WINDOW_NS, 1e6))
    assert RadarKind.LIQUIDATION_STORM not in kinds(out)  # the first one is exactly 30 s old: gone
    other = FuturesRadar(RadarConfig())
    other.on_liquidation(liquidation("BTCUSDT", T, 1e6))
    out = other.on_liquidation(liquidation("BTCUSDT", T + WINDOW_NS - 1, 1e6))
    assert RadarKind.LIQUIDATION_STORM in kinds(out)


def test_storm_cooldown_300s(radar: FuturesRadar) -> None:
    t = T
    fired = []
    for _ in range(302):  # one liquidation a second keeps the storm active
        out = radar.on_liquidation(liquidation("XYZUSDT", t, 200_000))
        fired += [s.ts_event_ns for s in out if s.kind == RadarKind.LIQUIDATION_STORM]
        t += NS_PER_S
    # "other" group: storm at 250k with >= 2 events -> first at T + 1 s, again exactly 300 s later.
    assert fired == [T + NS_PER_S, T + 301 * NS_PER_S]


# -- cluster --------------------------------------------------------------------------------------


def test_cluster_fires_with_dominance(radar: FuturesRadar) -> None:
    radar.on_trade(trade("BTCUSDT", T, 1e6))
    radar.on_trade(trade("BTCUSDT", T + 1, 1e6))
    out = radar.on_trade(trade("BTCUSDT", T + 2, 2e6, buy=False))
    cluster = by_kind(out, RadarKind.WHALE_CLUSTER)
    assert cluster.metrics["cluster_buy_usd"] == 2e6
    assert cluster.metrics["cluster_sell_usd"] == 2e6
    assert cluster.metrics["cluster_dominance"] == 0.0
    assert cluster.direction is Direction.NEUTRAL


def test_cluster_needs_count(radar: FuturesRadar) -> None:
    radar.on_trade(trade("BTCUSDT", T, 5e6))
    out = radar.on_trade(trade("BTCUSDT", T + 1, 5e6))
    assert RadarKind.WHALE_CLUSTER not in kinds(out)
    out = radar.on_trade(trade("BTCUSDT", T + 2, 1e6))
    assert by_kind(out, RadarKind.WHALE_CLUSTER).metrics["cluster_dominance"] == 1.0


def test_cluster_needs_notional() -> None:
    # Mid cap: trades of >= 200k join; the cluster needs >= 2 of them and >= 500k in total.
    radar = FuturesRadar(RadarConfig())
    radar.on_trade(trade("NEARUSDT", T, 200_000))
    assert RadarKind.WHALE_CLUSTER not in kinds(radar.on_trade(trade("NEARUSDT", T + 1, 299_999)))
    assert RadarKind.WHALE_CLUSTER in kinds(radar.on_trade(trade("NEARUSDT", T + 2, 200_000)))


def test_small_trades_do_not_join_the_cluster() -> None:
    radar = FuturesRadar(RadarConfig())
    for i in range(10):
        assert radar.on_trade(trade("NEARUSDT", T + i, 199_999)) == []
    assert radar.window_sizes() == (0, 0)


def test_cluster_window_edge_is_exactly_30s() -> None:
    for third_ns, fires in ((T + WINDOW_NS - 1, True), (T + WINDOW_NS, False)):
        radar = FuturesRadar(RadarConfig())
        radar.on_trade(trade("BTCUSDT", T, 1e6))
        radar.on_trade(trade("BTCUSDT", T + 1, 1e6))
        assert (RadarKind.WHALE_CLUSTER in kinds(radar.on_trade(trade("BTCUSDT", third_ns, 1e6)))) is fires


# -- composite ------------------------------------------------------------------------------------


def _storm(radar: FuturesRadar, side: Side, t: int = T) -> list[Signal]:
    radar.on_liquidation(liquidation("BTCUSDT", t, 1e6, side=side))
    return radar.on_liquidation(liquidation("BTCUSDT", t + NS_PER_S, 1e6, side=side))


def _cluster(radar: FuturesRadar, buy: bool, t: int) -> list[Signal]:
    radar.on_trade(trade("BTCUSDT", t, 1e6, buy=buy))
    radar.on_trade(trade("BTCUSDT", t + 1, 1e6, buy=buy))
    return radar.on_trade(trade("BTCUSDT", t + 2, 1e6, buy=buy))


def test_storm_only_scores_and_labels(radar: FuturesRadar) -> None:
    sig = by_kind(_storm(radar, Side.SELL), RadarKind.RADAR)
    assert sig.labels["pattern"] == RadarPattern.STORM_ONLY
    assert sig.metrics["storm_score"] == pytest.approx(0.5 * 2e6 / 6e6)
    assert sig.metrics["cluster_score"] == 0.0
    assert sig.labels["strength"] == "weak"
    assert sig.labels["pressure"] == "bearish"  # longs liquidated
    assert sig.labels["volatility"] == "low"


def test_cluster_only(radar: FuturesRadar) -> None:
    sig = by_kind(_cluster(radar, True, T), RadarKind.RADAR)
    assert sig.labels["pattern"] == RadarPattern.CLUSTER_ONLY
    assert sig.metrics["cluster_score"] == pytest.approx(0.5 * 3e6 / 9e6)
    assert sig.labels["pressure"] == "bullish"


def test_convergence_escalates_through_cooldown(radar: FuturesRadar) -> None:
    assert by_kind(_storm(radar, Side.BUY), RadarKind.RADAR).labels["pattern"] == RadarPattern.STORM_ONLY
    sig = by_kind(_cluster(radar, True, T + 2 * NS_PER_S), RadarKind.RADAR)
    assert sig.labels["pattern"] == RadarPattern.CONVERGENCE  # shorts liquidated + whales buying
    assert sig.metrics["convergence_bonus"] == 0.3
    assert sig.metrics["score"] == pytest.approx(0.5 * 2 / 6 + 0.5 * 3 / 9 + 0.3)
    assert sig.labels["strength"] == "strong"
    assert sig.direction is Direction.BULLISH
    assert any(c.name == "storm_cluster_same_side" for c in sig.conditions)
    # Same rank again inside the radar cooldown: nothing new.
    assert RadarKind.RADAR not in kinds(radar.on_trade(trade("BTCUSDT", T + 3 * NS_PER_S, 1e6)))


def test_storm_and_cluster_disagreeing_sides(radar: FuturesRadar) -> None:
    _storm(radar, Side.SELL)  # longs liquidated: bearish
    sig = by_kind(_cluster(radar, True, T + 2 * NS_PER_S), RadarKind.RADAR)
    assert sig.labels["pattern"] == RadarPattern.STORM_AND_CLUSTER
    assert sig.metrics["convergence_bonus"] == 0.3
    # 2M pushing down vs 3M pushing up: net 0.2, exactly the neutral bound, so directional.
    assert sig.metrics["net_pressure"] == pytest.approx(0.2)
    assert sig.labels["pressure"] == "bullish"


def test_pressure_neutral_when_balanced(radar: FuturesRadar) -> None:
    radar.on_liquidation(liquidation("BTCUSDT", T, 1e6, side=Side.SELL))
    sig = by_kind(radar.on_liquidation(liquidation("BTCUSDT", T + 1, 1e6, side=Side.BUY)), RadarKind.RADAR)
    assert sig.labels["pressure"] == "neutral"
    assert sig.direction is Direction.NEUTRAL


def test_extreme_strength_and_volatility() -> None:
    radar = FuturesRadar(RadarConfig())
    radar.on_liquidation(liquidation("BTCUSDT", T, 3e6, side=Side.BUY, price=100.0))
    radar.on_liquidation(liquidation("BTCUSDT", T + 1, 3e6, side=Side.BUY, price=104.0))
    for i in range(3):
        out = radar.on_trade(trade("BTCUSDT", T + 2 + i, 3e6, price=103.0))
    sig = by_kind(out, RadarKind.RADAR)
    assert sig.metrics["score"] == pytest.approx(1.3)
    assert sig.labels["strength"] == "extreme"
    assert sig.labels["volatility"] == "extreme"  # 4 % range inside the window
    assert sig.severity == "critical"


def test_radar_cooldown_then_again(radar: FuturesRadar) -> None:
    _storm(radar, Side.SELL)
    later = T + 300 * NS_PER_S
    assert RadarKind.RADAR in kinds(_storm(radar, Side.SELL, later))


# -- robustness -----------------------------------------------------------------------------------


def test_bad_values_are_counted_and_dropped(radar: FuturesRadar) -> None:
    before = INPUTS_DROPPED.labels("futures_radar", "bad_value")._value.get()
    assert radar.on_trade(trade("BTCUSDT", T, math.nan)) == []
    assert radar.on_liquidation(liquidation("BTCUSDT", T, 0.0)) == []
    bad_price = liquidation("BTCUSDT", T, 1e6, price=math.inf)
    assert radar.on_liquidation(bad_price) == []
    assert INPUTS_DROPPED.labels("futures_radar", "bad_value")._value.get() - before == 3


def test_custom_group_thresholds() -> None:
    cfg = RadarConfig(
        majors=GroupThresholds(
            symbols=("BTCUSDT",),
            large_liquidation_usd=10,
            whale_trade_usd=10,
            cluster_trade_min_usd=10,
            storm_min_usd=10,
            storm_min_count=1,
            cluster_min_usd=10,
            cluster_min_count=1,
        )
    )
    out = FuturesRadar(cfg).on_liquidation(liquidation("BTCUSDT", T, 10))
    assert kinds(out) == [RadarKind.LARGE_LIQUIDATION, RadarKind.LIQUIDATION_STORM, RadarKind.RADAR]


def test_config_rejects_symbol_in_two_groups() -> None:
    with pytest.raises(ValueError, match="BTCUSDT is in both"):
        RadarConfig(large_cap=RadarConfig().large_cap.model_copy(update={"symbols": ("BTCUSDT",)}))


def test_memory_stays_bounded_with_1000_symbols() -> None:
    radar = FuturesRadar(RadarConfig())
    symbols = [f"S{i:04d}USDT" for i in range(1000)]
    step_ns = 10 * NS_PER_S
    max_entries = 0
    t = T
    for _ in range(180):  # 30 simulated minutes, each symbol: one liquidation and one whale trade per 10 s
        for j, s in enumerate(symbols):
            radar.on_liquidation(liquidation(s, t + j, 60_000))
            radar.on_trade(trade(s, t + j, 150_000, buy=j % 2 == 0))
        storm, cluster = radar.window_sizes()
        max_entries = max(max_entries, storm, cluster)
        t += step_ns
    assert radar.tracked_symbols() == 1000
    assert max_entries <= 1000 * 3  # 30 s window, one event per 10 s per symbol
    # Silence longer than every cooldown: one event sweeps everything else away.
    radar.on_liquidation(liquidation("BTCUSDT", t + 700 * NS_PER_S, 1.0))
    assert radar.tracked_symbols() == 1
    assert radar.window_sizes() == (1, 0)


def test_window_cap_drops_oldest_and_keeps_totals_consistent() -> None:
    radar = FuturesRadar(RadarConfig(max_events_per_window=3))
    for i in range(5):
        radar.on_liquidation(liquidation("XYZUSDT", T + i, 10_000.0 * (i + 1)))
    out = radar.on_liquidation(liquidation("XYZUSDT", T + 5, 200_000))
    storm = by_kind(out, RadarKind.LIQUIDATION_STORM)
    assert radar.window_sizes() == (3, 0)
    assert storm.metrics["storm_count"] == 3
    assert storm.metrics["storm_notional_usd"] == pytest.approx(40_000 + 50_000 + 200_000)


def test_an_event_a_full_window_late_is_ignored(radar: FuturesRadar) -> None:
    radar.on_liquidation(liquidation("BTCUSDT", T + WINDOW_NS, 1e6))
    out = radar.on_liquidation(liquidation("BTCUSDT", T, 1e6))  # 30 s older than the newest
    assert RadarKind.LIQUIDATION_STORM not in kinds(out)
    assert radar.window_sizes() == (1, 0)
