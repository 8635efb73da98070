"""Momentum over the liquid universe: a large move on the primary timeframe backed by volume, liquidity
and higher-timeframe trends, grouped across symbols that moved together in the same bar.

Gates (all must hold; each is recorded as a `Condition`):

- move over `lookback_bars`: raw mode |close / close[-lookback] - 1| >= `min_move_pct` %, or ATR mode
  |close - close[-lookback]| / ATR >= `min_move_atr`; the sign gives the direction;
- volume z-score of this bar against the previous `volume_z_period` bars >= `min_volume_z`;
- quote volume summed over the lookback bars >= `min_quote_volume`;
- trend alignment: on every interval in `trend_timeframes`, the last closed bar's close is above its
  EMA(`trend_ema_period`) for a bullish move (below for bearish);
- cooldown: `cooldown_s` since the symbol's last candidate (bar close times).

Grouping (deterministic, event time only): a candidate for bar close T is held. When event time reaches
T + `group_wait_ms` (any event, via `on_time`, or a later bar, or `flush(up_to_ms)`, or the app's timer on
the exchange clock via `release(now_ms)` when no event comes), the candidates of T
are released: those sharing a direction become ONE `momentum_group` signal when there are at least
`group_min_symbols` of them, otherwise each is a `momentum` signal. A candidate whose close T was already
released (a late bar) goes out alone at once.

Strength, 0..10 (one decimal): 4 x min(1, move / (2 x move threshold)) + 3 x min(1, z / (2 x z threshold))
+ 2 x (share of trend timeframes aligned, always 1 when emitted) + 1 if the regime is trending.
"""

from __future__ import annotations

import math
from typing import Final

from cryptoradar.config.detectors import MomentumConfig
from cryptoradar.detectors.base import (
    INPUTS_DROPPED,
    NS_PER_MS,
    DropReason,
    passed,
    seconds_to_ns,
)
from cryptoradar.events import Bar, Condition, Direction, Severity, Signal
from cryptoradar.indicators import ADX, ATR, EMA, EfficiencyRatio, ZScore

DETECTOR: Final = "momentum"
RULE_VERSION: Final = 1
KIND_SINGLE: Final = "momentum"
KIND_GROUP: Final = "momentum_group"
_INF: Final = math.inf
_NEVER_NS: Final = 1 << 62


class _Trend:
    __slots__ = ("close", "ema", "last_open_ms")

    def __init__(self, period: int) -> None:
        self.ema = EMA(period)
        self.close = math.nan
        self.last_open_ms = -1


class _Series:
    """Primary-timeframe state of one symbol: O(lookback + volume_z_period) memory."""

    __slots__ = (
        "adx",
        "atr",
        "closes",
        "efficiency",
        "filled",
        "index",
        "last_open_ms",
        "quote_volumes",
        "trend",
        "volume_z",
    )

    def __init__(self, cfg: MomentumConfig, trend: _Trend | None) -> None:
        # Rings of the last `lookback_bars` closes and quote volumes, `index` the oldest (next to be
        # overwritten). Plain lists: a deque costs ~600 bytes each, and with a thousand symbols the
        # per-bar working set must stay small to stay in cache.
        self.closes = [0.0] * cfg.lookback_bars
        self.quote_volumes = [0.0] * cfg.lookback_bars
        self.index = 0
        self.filled = 0
        self.atr = ATR(cfg.atr_period)
        self.volume_z = ZScore(cfg.volume_z_period)
        adx = cfg.regime_method == "adx"
        self.adx = ADX(cfg.adx_period) if adx else None
        self.efficiency = None if adx else EfficiencyRatio(cfg.efficiency_period)
        self.last_open_ms = -1
        # The primary interval's own trend state when it is also a trend timeframe (saves a lookup).
        self.trend = trend


class _Candidate:
    __slots__ = ("bar", "conditions", "direction", "labels", "metrics", "strength")

    def __init__(
        self,
        bar: Bar,
        direction: Direction,
        strength: float,
        conditions: tuple[Condition, ...],
        metrics: dict[str, float],
        labels: dict[str, str],
    ) -> None:
        self.bar = bar
        self.direction = direction
        self.strength = strength
        self.conditions = conditions
        self.metrics = metrics
        self.labels = labels


def _severity(strength: float) -> Severity:
    if strength >= 8.0:
        return Severity.HIGH
    if strength >= 5.0:
        return Severity.WARNING
    return Severity.INFO


class MomentumDetector:
    """Consumes closed `Bar`s (primary and trend intervals); emits `momentum` / `momentum_group`."""

    __slots__ = (
        "_cfg",
        "_cooldown_ms",
        "_last_candidate_ms",
        "_lookback_bars",
        "_markets",
        "_min_move",
        "_min_volume_z",
        "_next_due_ns",
        "_pending",
        "_raw_move",
        "_released_up_to_ms",
        "_series",
        "_timeframe",
        "_trend_intervals",
        "_trends",
    )

    def __init__(self, config: MomentumConfig) -> None:
        self._cfg = config
        self._markets = frozenset(config.markets)
        self._trend_intervals = frozenset(config.trend_timeframes)
        self._cooldown_ms = seconds_to_ns(config.cooldown_s) // NS_PER_MS
        self._series: dict[str, _Series] = {}
        self._trends: dict[tuple[str, str], _Trend] = {}
        self._last_candidate_ms: dict[str, int] = {}
        self._pending: dict[int, list[_Candidate]] = {}
        self._next_due_ns = _NEVER_NS
        self._timeframe = config.timeframe
        self._released_up_to_ms = -1
        self._lookback_bars = config.lookback_bars
        self._raw_move = config.move_mode == "raw"
        # The per-bar gates, read here once: a pydantic attribute costs several dict look-ups per read.
        self._min_move = config.min_move_pct if self._raw_move else config.min_move_atr
        self._min_volume_z = config.min_volume_z

    # -- time and grouping ------------------------------------------------------------------------

    def on_time(self, ts_event_ns: int) -> list[Signal]:
        """Release held candidates whose bar closed at least `group_wait_ms` before this event time."""
        if ts_event_ns < self._next_due_ns:
            return []
        return self.flush(ts_event_ns // NS_PER_MS - self._cfg.group_wait_ms)

    def flush(self, up_to_ms: float) -> list[Signal]:
        """Release every held candidate with bar close time <= `up_to_ms` (pass `math.inf` at the end)."""
        due = sorted(t for t in self._pending if t <= up_to_ms)
        out: list[Signal] = []
        for close_ms in due:
            out += self._release(self._pending.pop(close_ms))
            self._released_up_to_ms = max(self._released_up_to_ms, close_ms)
        if due:
            self._next_due_ns = self._due_ns(min(self._pending)) if self._pending else _NEVER_NS
            horizon = due[-1] - self._cooldown_ms
            for symbol in [s for s, t in self._last_candidate_ms.items() if t <= horizon]:
                del self._last_candidate_ms[symbol]
        return out

    def next_release_ms(self) -> int | None:
        """Event time (ms) at which the earliest held bar close is due (close + `group_wait_ms`); None
        when nothing is held. The app arms a timer on the exchange clock for it and calls `release`."""
        return self._next_due_ns // NS_PER_MS if self._next_due_ns != _NEVER_NS else None

    def release(self, exchange_now_ms: int) -> list[Signal]:
        """The clock reached `exchange_now_ms`: release every bar close due by then, and mark those closes
        released even when nothing was held, so a bar arriving later goes out alone at once."""
        up_to_ms = exchange_now_ms - self._cfg.group_wait_ms
        out = self.flush(up_to_ms)
        self._released_up_to_ms = max(self._released_up_to_ms, up_to_ms)
        return out

    def _due_ns(self, close_ms: int) -> int:
        return (close_ms + self._cfg.group_wait_ms) * NS_PER_MS

    def pending_count(self) -> int:
        return sum(len(v) for v in self._pending.values())

    def state_sizes(self) -> tuple[int, int, int]:
        """(primary series, trend series, symbols in cooldown): bounded by the universe."""
        return len(self._series), len(self._trends), len(self._last_candidate_ms)

    def _release(self, candidates: list[_Candidate]) -> list[Signal]:
        out: list[Signal] = []
        for direction in (Direction.BULLISH, Direction.BEARISH):
            same = sorted(
                (c for c in candidates if c.direction is direction),
                key=lambda c: (-c.strength, c.bar.symbol),
            )
            if len(same) >= self._cfg.group_min_symbols:
                out.append(self._group_signal(same))
            else:
                out += [self._single_signal(c) for c in same]
        return out

    # -- bars -------------------------------------------------------------------------------------

    def on_bar(self, bar: Bar) -> list[Signal]:
        out = self.on_time(bar.ts_event_ns) if bar.ts_event_ns >= self._next_due_ns else []
        if not bar.closed or bar.market not in self._markets:
            return out
        interval = bar.interval
        primary = interval == self._timeframe
        trend = interval in self._trend_intervals
        if not (primary or trend):
            return out
        # Each field read once (compiled, a read of a msgspec field is a generic attribute look-up).
        high = bar.high
        low = bar.low
        close = bar.close
        volume = bar.volume
        quote_volume = bar.quote_volume
        # Chained comparisons reject NaN, infinities and non-positive values in one expression.
        if not (
            0.0 < high < _INF
            and 0.0 < low < _INF
            and 0.0 < close < _INF
            and 0.0 <= volume < _INF
            and 0.0 <= quote_volume < _INF
        ):
            INPUTS_DROPPED.labels(DETECTOR, DropReason.BAD_VALUE).inc()
            return out
        if not primary:
            self._update_trend(bar)
            return out
        candidate = self._evaluate(bar, high, low, close, volume, quote_volume)
        if candidate is not None:
            if bar.close_time_ms <= self._released_up_to_ms:
                out.append(self._single_signal(candidate))
            else:
                self._pending.setdefault(bar.close_time_ms, []).append(candidate)
                self._next_due_ns = min(self._next_due_ns, self._due_ns(bar.close_time_ms))
        return out

    def _update_trend(self, bar: Bar) -> None:
        key = (bar.symbol, bar.interval)
        t = self._trends.get(key)
        if t is None:
            t = self._trends[key] = _Trend(self._cfg.trend_ema_period)
        if bar.open_time_ms <= t.last_open_ms:
            INPUTS_DROPPED.labels(DETECTOR, DropReason.STALE_BAR).inc()
            return
        t.last_open_ms = bar.open_time_ms
        t.ema.update(bar.close)
        t.close = bar.close

    def _new_series(self, symbol: str) -> _Series:
        if self._timeframe not in self._trend_intervals:
            return _Series(self._cfg, None)
        trend = self._trends[(symbol, self._timeframe)] = _Trend(self._cfg.trend_ema_period)
        return _Series(self._cfg, trend)

    def _evaluate(
        self, bar: Bar, high: float, low: float, close: float, volume: float, bar_quote_volume: float
    ) -> _Candidate | None:
        cfg = self._cfg
        symbol = bar.symbol
        s = self._series.get(symbol)
        if s is None:
            s = self._series[symbol] = self._new_series(symbol)
        open_ms = bar.open_time_ms
        if open_ms <= s.last_open_ms:
            INPUTS_DROPPED.labels(DETECTOR, DropReason.STALE_BAR).inc()
            return None
        s.last_open_ms = open_ms
        trend = s.trend
        if trend is not None:
            trend.ema.update(close)
            trend.close = close
        atr = s.atr.update(high, low, close)
        z = s.volume_z.update(volume)
        adx = s.adx
        if adx is not None:
            regime_value = adx.update(high, low, close)
        else:
            regime_value = s.efficiency.update(close) if s.efficiency is not None else math.nan
        lookback = self._lookback_bars
        index = s.index
        base = s.closes[index]  # the close `lookback_bars` bars ago, once the ring is full
        s.closes[index] = close
        s.quote_volumes[index] = bar_quote_volume
        s.index = index + 1 if index + 1 < lookback else 0
        filled = s.filled
        if filled < lookback:
            s.filled = filled + 1
            return None
        if z != z or atr != atr:
            return None
        change = close - base
        # Cheapest gate first: most bars do not move enough, and they allocate nothing.
        if self._raw_move:
            if abs(change) * 100.0 < self._min_move * base:
                return None
        elif atr <= 0.0 or abs(change) < self._min_move * atr:
            return None
        if z < self._min_volume_z:
            return None
        ring = s.quote_volumes
        quote_volume = sum(ring[index + 1 :] + ring[: index + 1])  # oldest first, as they came
        if quote_volume < cfg.min_quote_volume:
            return None
        last = self._last_candidate_ms.get(symbol)
        if last is not None and bar.close_time_ms - last < self._cooldown_ms:
            return None
        up = change > 0.0
        trend_conditions: list[Condition] = []
        for interval in cfg.trend_timeframes:
            t = self._trends.get((symbol, interval))
            if t is None or not t.ema.ready:
                return None
            gap_pct = (t.close / t.ema.value - 1.0) * 100.0
            if (gap_pct <= 0.0) if up else (gap_pct >= 0.0):
                return None
            trend_conditions.append(
                passed(f"trend_{interval}_close_vs_ema_pct", gap_pct, ">" if up else "<", 0.0)
            )
        self._last_candidate_ms[symbol] = bar.close_time_ms
        return self._candidate(
            bar,
            base,
            up,
            change,
            atr,
            z,
            s.volume_z.reference_mean,
            quote_volume,
            regime_value,
            trend_conditions,
        )

    def _candidate(
        self,
        bar: Bar,
        base: float,
        up: bool,
        change: float,
        atr: float,
        z: float,
        mean_volume: float,
        quote_volume: float,
        regime_value: float,
        trend_conditions: list[Condition],
    ) -> _Candidate:
        cfg = self._cfg
        move_pct = change / base * 100.0
        move_atr = change / atr if atr > 0 else 0.0
        if cfg.move_mode == "raw":
            move_condition = passed("move_pct", abs(move_pct), ">=", cfg.min_move_pct)
            move_score = abs(move_pct) / (2.0 * cfg.min_move_pct)
        else:
            move_condition = passed("move_atr", abs(move_atr), ">=", cfg.min_move_atr)
            move_score = abs(move_atr) / (2.0 * cfg.min_move_atr)
        if regime_value != regime_value:
            regime = "unknown"
        elif cfg.regime_method == "adx":
            regime = "trending" if regime_value >= cfg.adx_trending else "ranging"
        else:
            regime = "trending" if regime_value >= cfg.efficiency_trending else "ranging"
        z_score = z / (2.0 * cfg.min_volume_z) if cfg.min_volume_z > 0 else 1.0
        strength = round(
            4.0 * min(1.0, move_score)
            + 3.0 * min(1.0, max(0.0, z_score))
            + 2.0
            + (1.0 if regime == "trending" else 0.0),
            1,
        )
        conditions = (
            move_condition,
            passed("volume_z", z, ">=", cfg.min_volume_z),
            passed("quote_volume", quote_volume, ">=", cfg.min_quote_volume),
            *trend_conditions,
        )
        metrics = {
            "close": bar.close,
            "reference_close": base,
            "move_pct": move_pct,
            "move_atr": move_atr,
            "atr": atr,
            "volume_z": z,
            "quote_volume": quote_volume,
            "regime_value": regime_value if regime_value == regime_value else -1.0,
            "strength": strength,
        }
        if mean_volume > 0.0:
            # This bar's volume against the mean of the bars its z-score was measured on.
            metrics["volume_pct"] = (bar.volume / mean_volume - 1.0) * 100.0
        labels = {"regime": regime, "regime_method": cfg.regime_method, "move_mode": cfg.move_mode}
        direction = Direction.BULLISH if up else Direction.BEARISH
        return _Candidate(bar, direction, strength, conditions, metrics, labels)

    # -- signals ----------------------------------------------------------------------------------

    def _single_signal(self, c: _Candidate) -> Signal:
        b = c.bar
        return Signal(
            detector=DETECTOR,
            rule_version=RULE_VERSION,
            kind=KIND_SINGLE,
            symbol=b.symbol,
            timeframe=b.interval,
            window_start_ms=b.open_time_ms
            - (self._cfg.lookback_bars - 1) * (b.close_time_ms + 1 - b.open_time_ms),
            window_end_ms=b.close_time_ms,
            direction=c.direction,
            severity=_severity(c.strength),
            conditions=c.conditions,
            metrics=c.metrics,
            labels=c.labels,
            symbols=(b.symbol,),
            ts_event_ns=b.ts_event_ns,
        )

    def _group_signal(self, members: list[_Candidate]) -> Signal:
        """One signal for symbols that moved together: the strongest leads, every member is listed."""
        leader = members[0]
        single = self._single_signal(leader)
        metrics = dict(leader.metrics)
        metrics["group_size"] = float(len(members))
        metrics["group_mean_move_pct"] = sum(m.metrics["move_pct"] for m in members) / len(members)
        metrics["group_mean_strength"] = sum(m.strength for m in members) / len(members)
        for m in members:
            metrics[f"move_pct:{m.bar.symbol}"] = m.metrics["move_pct"]
        return Signal(
            detector=DETECTOR,
            rule_version=RULE_VERSION,
            kind=KIND_GROUP,
            symbol=leader.bar.symbol,
            timeframe=single.timeframe,
            window_start_ms=single.window_start_ms,
            window_end_ms=single.window_end_ms,
            direction=leader.direction,
            severity=_severity(leader.strength),
            conditions=(
                passed("group_size", len(members), ">=", self._cfg.group_min_symbols),
                *leader.conditions,
            ),
            metrics=metrics,
            labels={**leader.labels, "grouped": "true"},
            symbols=tuple(m.bar.symbol for m in members),
            ts_event_ns=max(m.bar.ts_event_ns for m in members),
        )
