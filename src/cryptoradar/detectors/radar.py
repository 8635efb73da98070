"""USD-M futures radar: large liquidations, whale trades, liquidation storms, whale clusters, composite.

A pure state machine on event time. Every window is per symbol and half-open: an event at `t` is inside
the window at `now` while `now - t < window`, so an event exactly `window_s` old has left it. Windows are
evicted on each event of their symbol, and a sweep every `window_s` of event time drops idle symbols, so
memory follows the number of symbols active in the last window (plus those still in a cooldown).

Binance pushes at most one liquidation per symbol per second (the latest), so liquidation counts and
totals are lower bounds: a storm's count threshold effectively counts seconds that had a liquidation.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Final

from cryptoradar.config.detectors import GroupThresholds, RadarConfig, SymbolGroup
from cryptoradar.detectors.base import (
    INPUTS_DROPPED,
    NEVER_NS,
    NS_PER_MS,
    SEVERITY_BY_RANK,
    DropReason,
    passed,
    seconds_to_ns,
)
from cryptoradar.detectors.windows import EventWindow
from cryptoradar.events import Condition, Direction, Liquidation, Market, Severity, Side, Signal, Trade

_INF: Final = math.inf

DETECTOR: Final = "futures_radar"
RULE_VERSION: Final = 1


class RadarKind(StrEnum):
    LARGE_LIQUIDATION = "large_liquidation"
    WHALE_TRADE = "whale_trade"
    LIQUIDATION_STORM = "liquidation_storm"
    WHALE_CLUSTER = "whale_cluster"
    RADAR = "radar"


class RadarPattern(StrEnum):
    """STORM_AND_CLUSTER: both fire on one symbol; CONVERGENCE: both fire AND push the same way."""

    STORM_ONLY = "STORM_ONLY"
    CLUSTER_ONLY = "CLUSTER_ONLY"
    STORM_AND_CLUSTER = "STORM_AND_CLUSTER"
    CONVERGENCE = "CONVERGENCE"

    @property
    def rank(self) -> int:
        return _PATTERN_RANK[self]


_PATTERN_RANK = {
    RadarPattern.STORM_ONLY: 1,
    RadarPattern.CLUSTER_ONLY: 1,
    RadarPattern.STORM_AND_CLUSTER: 2,
    RadarPattern.CONVERGENCE: 3,
}


class RadarStrength(StrEnum):
    WEAK = "weak"
    MODERATE = "moderate"
    STRONG = "strong"
    EXTREME = "extreme"


class Volatility(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    EXTREME = "extreme"


_STRENGTHS = tuple(RadarStrength)
_VOLATILITIES = tuple(Volatility)


class _SymbolState:
    __slots__ = (
        "cluster",
        "group",
        "last_cluster_ns",
        "last_large_liq_ns",
        "last_radar_ns",
        "last_radar_rank",
        "last_storm_ns",
        "last_whale_ns",
        "storm",
        "thresholds",
    )

    def __init__(self, group: SymbolGroup, thresholds: GroupThresholds) -> None:
        self.group = group
        self.thresholds = thresholds
        self.storm = EventWindow()
        self.cluster = EventWindow()
        self.last_large_liq_ns = NEVER_NS
        self.last_whale_ns = NEVER_NS
        self.last_storm_ns = NEVER_NS
        self.last_cluster_ns = NEVER_NS
        self.last_radar_ns = NEVER_NS
        self.last_radar_rank = 0


class FuturesRadar:
    """Consumes USD-M `Trade` and `Liquidation` events; emits `RadarKind` signals.

    Contract: `on_trade`/`on_liquidation` never raise on bad values (they are counted and dropped) and
    return signals in a fixed order: single-event kind, then window kind, then the composite.
    """

    __slots__ = (
        "_cfg",
        "_cooldown_cluster_ns",
        "_cooldown_large_liq_ns",
        "_cooldown_radar_ns",
        "_cooldown_storm_ns",
        "_cooldown_whale_ns",
        "_max_cooldown_ns",
        "_next_sweep_ns",
        "_now_ns",
        "_states",
        "_timeframe",
        "_trade_floor_usd",
        "_window_ns",
    )

    def __init__(self, config: RadarConfig) -> None:
        self._cfg = config
        self._window_ns = seconds_to_ns(config.window_s)
        self._timeframe = f"{config.window_s:g}s"
        self._cooldown_large_liq_ns = seconds_to_ns(config.large_liquidation_cooldown_s)
        self._cooldown_whale_ns = seconds_to_ns(config.whale_trade_cooldown_s)
        self._cooldown_storm_ns = seconds_to_ns(config.storm_cooldown_s)
        self._cooldown_cluster_ns = seconds_to_ns(config.cluster_cooldown_s)
        self._cooldown_radar_ns = seconds_to_ns(config.radar_cooldown_s)
        self._max_cooldown_ns = max(
            self._cooldown_large_liq_ns,
            self._cooldown_whale_ns,
            self._cooldown_storm_ns,
            self._cooldown_cluster_ns,
            self._cooldown_radar_ns,
        )
        self._states: dict[str, _SymbolState] = {}
        # Per symbol: the smallest notional that can matter; everything below returns at once.
        self._trade_floor_usd: dict[str, float] = {}
        self._next_sweep_ns = NEVER_NS
        self._now_ns = NEVER_NS

    # -- public API -------------------------------------------------------------------------------

    def on_trade(self, trade: Trade) -> list[Signal]:
        if trade.market is not Market.USDM:
            return []
        notional = trade.price * trade.quantity
        floor = self._trade_floor_usd.get(trade.symbol)
        if floor is None:
            _, g = self._cfg.group_of(trade.symbol)
            floor = self._trade_floor_usd[trade.symbol] = min(g.whale_trade_usd, g.cluster_trade_min_usd)
        if notional < floor:  # also false for NaN, which the check below then drops
            return []
        if not (0.0 < trade.price < _INF and 0.0 < trade.quantity < _INF):
            INPUTS_DROPPED.labels(DETECTOR, DropReason.BAD_VALUE).inc()
            return []
        now = trade.ts_event_ns
        st = self._state(trade.symbol, now)
        g = st.thresholds
        buy = not trade.buyer_is_maker
        out: list[Signal] = []
        if notional >= g.whale_trade_usd and now - st.last_whale_ns >= self._cooldown_whale_ns:
            st.last_whale_ns = now
            side = "BUY" if buy else "SELL"
            out.append(
                self._single_event(
                    RadarKind.WHALE_TRADE,
                    trade.symbol,
                    now,
                    buy,
                    notional,
                    g.whale_trade_usd,
                    trade.price,
                    trade.quantity,
                    {"group": st.group, "taker_side": side},
                )
            )
        if notional >= g.cluster_trade_min_usd:
            st.cluster.add(
                (now, buy, notional, trade.price), self._window_ns, self._cfg.max_events_per_window
            )
            if self._cluster_active(st) and now - st.last_cluster_ns >= self._cooldown_cluster_ns:
                st.last_cluster_ns = now
                out.append(self._window_signal(RadarKind.WHALE_CLUSTER, trade.symbol, st, st.cluster, now))
            self._composite(trade.symbol, st, now, out)
        return out

    def on_liquidation(self, liq: Liquidation) -> list[Signal]:
        if liq.market is not Market.USDM:
            return []
        price = liq.avg_price if liq.avg_price > 0 else liq.price
        qty = liq.filled_quantity if liq.filled_quantity > 0 else liq.quantity
        if not (0.0 < price < _INF and 0.0 < qty < _INF):
            INPUTS_DROPPED.labels(DETECTOR, DropReason.BAD_VALUE).inc()
            return []
        notional = price * qty
        now = liq.ts_event_ns
        st = self._state(liq.symbol, now)
        g = st.thresholds
        # A liquidated short is a forced buy: it pushes the price up.
        up = liq.side is Side.BUY
        out: list[Signal] = []
        if notional >= g.large_liquidation_usd and now - st.last_large_liq_ns >= self._cooldown_large_liq_ns:
            st.last_large_liq_ns = now
            labels = {"group": st.group, "liquidated": "short" if up else "long", "side": liq.side}
            out.append(
                self._single_event(
                    RadarKind.LARGE_LIQUIDATION,
                    liq.symbol,
                    now,
                    up,
                    notional,
                    g.large_liquidation_usd,
                    price,
                    qty,
                    labels,
                )
            )
        st.storm.add((now, up, notional, price), self._window_ns, self._cfg.max_events_per_window)
        if self._storm_active(st) and now - st.last_storm_ns >= self._cooldown_storm_ns:
            st.last_storm_ns = now
            out.append(self._window_signal(RadarKind.LIQUIDATION_STORM, liq.symbol, st, st.storm, now))
        self._composite(liq.symbol, st, now, out)
        return out

    def tracked_symbols(self) -> int:
        """Symbols holding window or cooldown state (bounded by recent activity)."""
        return len(self._states)

    def window_sizes(self) -> tuple[int, int]:
        """Total entries held in (storm, cluster) windows across all symbols."""
        return (
            sum(len(s.storm.entries) for s in self._states.values()),
            sum(len(s.cluster.entries) for s in self._states.values()),
        )

    # -- state ------------------------------------------------------------------------------------

    def _state(self, symbol: str, now_ns: int) -> _SymbolState:
        if now_ns > self._now_ns:
            self._now_ns = now_ns
        if self._now_ns >= self._next_sweep_ns:
            self._sweep(self._now_ns)
        st = self._states.get(symbol)
        if st is None:
            group, thresholds = self._cfg.group_of(symbol)
            st = self._states[symbol] = _SymbolState(group, thresholds)
        return st

    def _sweep(self, now_ns: int) -> None:
        """Evict every window to `now_ns`; forget symbols with empty windows and no running cooldown."""
        self._next_sweep_ns = now_ns + self._window_ns
        cutoff = now_ns - self._window_ns
        idle_before = now_ns - self._max_cooldown_ns
        idle: list[str] = []
        for symbol, st in self._states.items():
            st.storm.evict(cutoff)
            st.cluster.evict(cutoff)
            if (
                not st.storm.entries
                and not st.cluster.entries
                and max(
                    st.last_large_liq_ns,
                    st.last_whale_ns,
                    st.last_storm_ns,
                    st.last_cluster_ns,
                    st.last_radar_ns,
                )
                <= idle_before
            ):
                idle.append(symbol)
        for symbol in idle:
            del self._states[symbol]

    def _storm_active(self, st: _SymbolState) -> bool:
        w = st.storm
        return w.count >= st.thresholds.storm_min_count and w.total_usd >= st.thresholds.storm_min_usd

    def _cluster_active(self, st: _SymbolState) -> bool:
        w = st.cluster
        return w.count >= st.thresholds.cluster_min_count and w.total_usd >= st.thresholds.cluster_min_usd

    # -- signals ----------------------------------------------------------------------------------

    def _signal(
        self,
        kind: RadarKind,
        symbol: str,
        start_ns: int,
        now_ns: int,
        direction: Direction,
        severity: Severity,
        conditions: tuple[Condition, ...],
        metrics: dict[str, float],
        labels: dict[str, str],
    ) -> Signal:
        return Signal(
            detector=DETECTOR,
            rule_version=RULE_VERSION,
            kind=kind,
            symbol=symbol,
            timeframe=self._timeframe,
            window_start_ms=start_ns // NS_PER_MS,
            window_end_ms=now_ns // NS_PER_MS,
            direction=direction,
            severity=severity,
            conditions=conditions,
            metrics=metrics,
            labels=labels,
            symbols=(symbol,),
            ts_event_ns=now_ns,
        )

    def _single_event(
        self,
        kind: RadarKind,
        symbol: str,
        now_ns: int,
        up: bool,
        notional: float,
        threshold: float,
        price: float,
        qty: float,
        labels: dict[str, str],
    ) -> Signal:
        """A large liquidation or a whale trade: one event above its group's notional threshold."""
        return self._signal(
            kind,
            symbol,
            now_ns,
            now_ns,
            Direction.BULLISH if up else Direction.BEARISH,
            Severity.WARNING,
            (passed("notional_usd", notional, ">=", threshold),),
            {"notional_usd": notional, "price": price, "quantity": qty},
            labels,
        )

    def _window_conditions(self, kind: RadarKind, st: _SymbolState, w: EventWindow) -> tuple[Condition, ...]:
        g = st.thresholds
        if kind is RadarKind.LIQUIDATION_STORM:
            min_usd, min_count, prefix = g.storm_min_usd, g.storm_min_count, "storm"
        else:
            min_usd, min_count, prefix = g.cluster_min_usd, g.cluster_min_count, "cluster"
        return (
            passed(f"{prefix}_notional_usd", w.total_usd, ">=", min_usd),
            passed(f"{prefix}_count", w.count, ">=", min_count),
        )

    def _window_metrics(self, prefix: str, w: EventWindow, up_name: str, down_name: str) -> dict[str, float]:
        return {
            f"{prefix}_notional_usd": w.total_usd,
            f"{prefix}_count": float(w.count),
            f"{prefix}_{up_name}_usd": w.up_usd,
            f"{prefix}_{down_name}_usd": w.down_usd,
            f"{prefix}_{up_name}_count": float(w.up_count),
            f"{prefix}_{down_name}_count": float(w.down_count),
            f"{prefix}_dominance": w.dominance(),
        }

    def _window_signal(
        self, kind: RadarKind, symbol: str, st: _SymbolState, w: EventWindow, now_ns: int
    ) -> Signal:
        if kind is RadarKind.LIQUIDATION_STORM:
            metrics = self._window_metrics("storm", w, "short_liq", "long_liq")
        else:
            metrics = self._window_metrics("cluster", w, "buy", "sell")
        return self._signal(
            kind,
            symbol,
            w.entries[0][0],
            now_ns,
            w.direction(),
            Severity.HIGH,
            self._window_conditions(kind, st, w),
            metrics,
            {"group": st.group},
        )

    def _component_score(self, total_usd: float, min_usd: float) -> float:
        cfg = self._cfg
        return cfg.component_score_cap * min(1.0, total_usd / (cfg.component_score_saturation * min_usd))

    def _composite(self, symbol: str, st: _SymbolState, now_ns: int, out: list[Signal]) -> None:
        """Append the radar composite when a storm or cluster is active and the cooldown allows it.

        Within the radar cooldown only an escalation to a higher pattern rank is emitted.
        """
        # Both windows are evicted to the newest event time this symbol has seen.
        latest = max(st.storm.latest_ns, st.cluster.latest_ns)
        st.storm.evict(latest - self._window_ns)
        st.cluster.evict(latest - self._window_ns)
        storm_on = self._storm_active(st)
        cluster_on = self._cluster_active(st)
        if not storm_on and not cluster_on:
            return
        storm_dir = st.storm.direction() if storm_on else Direction.NEUTRAL
        cluster_dir = st.cluster.direction() if cluster_on else Direction.NEUTRAL
        if storm_on and cluster_on:
            agree = storm_dir is cluster_dir and storm_dir is not Direction.NEUTRAL
            pattern = RadarPattern.CONVERGENCE if agree else RadarPattern.STORM_AND_CLUSTER
        else:
            pattern = RadarPattern.STORM_ONLY if storm_on else RadarPattern.CLUSTER_ONLY
        in_cooldown = now_ns - st.last_radar_ns < self._cooldown_radar_ns
        if in_cooldown and pattern.rank <= st.last_radar_rank:
            return
        st.last_radar_ns = now_ns
        st.last_radar_rank = pattern.rank
        out.append(self._radar_signal(symbol, st, now_ns, pattern, storm_on, cluster_on))

    def _radar_signal(
        self,
        symbol: str,
        st: _SymbolState,
        now_ns: int,
        pattern: RadarPattern,
        storm_on: bool,
        cluster_on: bool,
    ) -> Signal:
        cfg = self._cfg
        g = st.thresholds
        windows = [w for w, on in ((st.storm, storm_on), (st.cluster, cluster_on)) if on]
        storm_score = self._component_score(st.storm.total_usd, g.storm_min_usd) if storm_on else 0.0
        cluster_score = self._component_score(st.cluster.total_usd, g.cluster_min_usd) if cluster_on else 0.0
        bonus = cfg.convergence_bonus if storm_on and cluster_on else 0.0
        score = storm_score + cluster_score + bonus
        strength = _STRENGTHS[sum(score >= b for b in cfg.strength_bounds)]
        up = sum(w.up_usd for w in windows)
        down = sum(w.down_usd for w in windows)
        net = (up - down) / (up + down) if up + down > 0 else 0.0
        if abs(net) < cfg.pressure_min_dominance:
            pressure = Direction.NEUTRAL
        else:
            pressure = Direction.BULLISH if net > 0 else Direction.BEARISH
        prices = [e[3] for w in windows for e in w.entries]
        low = min(prices)
        range_pct = (max(prices) - low) / low * 100.0
        volatility = _VOLATILITIES[sum(range_pct >= b for b in cfg.volatility_bounds_pct)]
        conditions: list[Condition] = []
        metrics: dict[str, float] = {
            "score": score,
            "storm_score": storm_score,
            "cluster_score": cluster_score,
            "convergence_bonus": bonus,
            "net_pressure": net,
            "price_range_pct": range_pct,
        }
        if storm_on:
            conditions.extend(self._window_conditions(RadarKind.LIQUIDATION_STORM, st, st.storm))
            metrics.update(self._window_metrics("storm", st.storm, "short_liq", "long_liq"))
        if cluster_on:
            conditions.extend(self._window_conditions(RadarKind.WHALE_CLUSTER, st, st.cluster))
            metrics.update(self._window_metrics("cluster", st.cluster, "buy", "sell"))
        if pattern is RadarPattern.CONVERGENCE:
            conditions.append(passed("storm_cluster_same_side", 1.0, "==", 1.0))
        return self._signal(
            RadarKind.RADAR,
            symbol,
            min(w.entries[0][0] for w in windows),
            now_ns,
            pressure,
            SEVERITY_BY_RANK[_STRENGTHS.index(strength)],
            tuple(conditions),
            metrics,
            {
                "pattern": pattern,
                "strength": strength,
                "pressure": pressure,
                "volatility": volatility,
                "group": st.group,
            },
        )
