"""Confluence scanner: an EMA cross confirmed by VWAP, volume, RSI and the trend EMA, on closed bars.

Factors (bullish; bearish is the mirror image):

- required: EMA(fast) crossed above EMA(slow) on this bar or within the last `cross_within_bars` bars and
  is still above; RSI inside [rsi_low, rsi_high] (bounds included, the same band for both directions);
- confidence: close > session VWAP; volume > volume_factor x SMA(volume) of the *previous* bars;
  close > EMA(trend).

A signal needs `min_factors` of the five (the two required always count), and its confidence is the
number met: 3, 4 or 5 with the defaults. Only conditions that gate the signal go into `conditions` (all
passed); the optional factors show up in `labels["factors"]` / `labels["missing"]` and in `metrics`.

Repeats: the same (symbol, timeframe, direction) is suppressed for `repeat_cooldown_s` after the last
signal unless the close moved more than `repeat_min_move_pct` from that signal's entry; history entries
expire after `history_ttl_s`. Times are bar close times, never wall time.
"""

from __future__ import annotations

import heapq
import math
from typing import Final

from cryptoradar.config.detectors import ConfluenceConfig
from cryptoradar.detectors.base import INPUTS_DROPPED, DropReason, passed
from cryptoradar.detectors.confluence_state import ConfluenceState, DedupEntry
from cryptoradar.events import Bar, Direction, Severity, Signal
from cryptoradar.indicators import ATR, EMA, RSI, SMA, VWAP

DETECTOR: Final = "confluence"
RULE_VERSION: Final = 1
KIND: Final = "confluence"
_INF: Final = math.inf

_SEVERITY_BY_CONFIDENCE = {3: Severity.INFO, 4: Severity.WARNING, 5: Severity.HIGH}


class _Series:
    """Indicators of one (symbol, interval)."""

    __slots__ = (
        "atr",
        "diff_count",
        "diff_next",
        "diffs",
        "ema_fast",
        "ema_slow",
        "ema_trend",
        "last_open_ms",
        "rsi",
        "vol_ma",
        "vwap",
        "window",
    )

    def __init__(self, cfg: ConfluenceConfig) -> None:
        self.vwap = VWAP(cfg.vwap_session_ms)
        self.ema_fast = EMA(cfg.ema_fast_period)
        self.ema_slow = EMA(cfg.ema_slow_period)
        self.ema_trend = EMA(cfg.ema_trend_period)
        self.vol_ma = SMA(cfg.volume_ma_period)
        self.rsi = RSI(cfg.rsi_period)
        self.atr = ATR(cfg.atr_period)
        # fast - slow for the current bar and the `cross_within_bars` before it: a ring, `diff_next` the
        # slot the next difference goes to (a plain list: a deque would cost ~600 bytes per series).
        self.window = cfg.cross_within_bars + 1
        self.diffs = [0.0] * self.window
        self.diff_next = 0
        self.diff_count = 0
        self.last_open_ms = -1


class ConfluenceDetector:
    """Consumes closed `Bar`s of the configured symbols and intervals; emits `confluence` signals."""

    __slots__ = ("_cfg", "_expiry", "_history", "_intervals", "_market", "_series", "_symbols", "_ttl_ms")

    def __init__(self, config: ConfluenceConfig) -> None:
        self._cfg = config
        self._symbols = frozenset(config.symbols)
        self._intervals = frozenset(config.intervals)
        self._market = config.market
        self._ttl_ms = config.history_ttl_s * 1000
        self._series: dict[tuple[str, str], _Series] = {}
        self._history: dict[tuple[str, str, Direction], DedupEntry] = {}
        # A min-heap of (ts_ms, history key) for every history write: expiry looks at the oldest only.
        # Items whose entry was overwritten since are stale and skipped when they come up.
        self._expiry: list[tuple[int, tuple[str, str, Direction]]] = []

    def wants(self, bar: Bar) -> bool:
        return (
            bar.closed
            and bar.symbol in self._symbols
            and bar.interval in self._intervals
            and bar.market == self._market
        )

    def on_bar(self, bar: Bar) -> list[Signal]:
        # Each field read once (compiled, a read of a msgspec field is a generic attribute look-up).
        symbol = bar.symbol
        interval = bar.interval
        if not (
            bar.closed
            and symbol in self._symbols
            and interval in self._intervals
            and bar.market == self._market
        ):
            return []
        high = bar.high
        low = bar.low
        close = bar.close
        volume = bar.volume
        if not (0.0 < high < _INF and 0.0 < low < _INF and 0.0 < close < _INF and 0.0 <= volume < _INF):
            INPUTS_DROPPED.labels(DETECTOR, DropReason.BAD_VALUE).inc()
            return []
        key = (symbol, interval)
        s = self._series.get(key)
        if s is None:
            s = self._series[key] = _Series(self._cfg)
        open_ms = bar.open_time_ms
        if open_ms <= s.last_open_ms:
            INPUTS_DROPPED.labels(DETECTOR, DropReason.STALE_BAR).inc()
            return []
        s.last_open_ms = open_ms
        vol_ma = s.vol_ma
        volume_ma = vol_ma.value  # the previous bars only: a spike never raises its own baseline
        vol_ma.update(volume)
        vwap = s.vwap.update(high, low, close, volume, open_ms)
        fast = s.ema_fast.update(close)
        slow = s.ema_slow.update(close)
        trend = s.ema_trend.update(close)
        rsi = s.rsi.update(close)
        atr = s.atr.update(high, low, close)
        diffs = s.diffs
        window = s.window
        if fast == fast and slow == slow:
            diffs[s.diff_next] = fast - slow
            s.diff_next = s.diff_next + 1 if s.diff_next + 1 < window else 0
            if s.diff_count < window:
                s.diff_count += 1
        expiry = self._expiry
        if expiry:
            close_ms = bar.close_time_ms
            if close_ms - expiry[0][0] >= self._ttl_ms:
                self._expire(close_ms)
        if (
            s.diff_count < window
            or trend != trend
            or rsi != rsi
            or atr != atr
            or vwap != vwap
            or volume_ma != volume_ma
        ):
            return []
        # A cross within the window: the current difference has one sign and an earlier one the other
        # (or zero). With the current one strictly signed, min/max over the whole window decide that.
        newest = s.diff_next - 1  # diffs[newest - i] is the difference i bars ago (negative indices wrap)
        now = diffs[newest]
        if now > 0.0 and min(diffs) <= 0.0:
            direction = Direction.BULLISH
        elif now < 0.0 and max(diffs) >= 0.0:
            direction = Direction.BEARISH
        else:
            return []
        cfg = self._cfg
        if not cfg.rsi_low <= rsi <= cfg.rsi_high:
            return []
        up = direction is Direction.BULLISH
        optional = {
            "vwap": close > vwap if up else close < vwap,
            "volume": volume > cfg.volume_factor * volume_ma,
            "trend": close > trend if up else close < trend,
        }
        met = 2 + sum(optional.values())
        if met < cfg.min_factors:
            return []
        if not self._allowed(bar, direction):
            return []
        self._remember(DedupEntry(bar.symbol, bar.interval, direction, bar.close_time_ms, close))
        if up:
            bars_since = next(i for i in range(window - 1) if diffs[newest - 1 - i] <= 0.0)
        else:
            bars_since = next(i for i in range(window - 1) if diffs[newest - 1 - i] >= 0.0)
        return [
            self._signal(
                bar, direction, bars_since, met, optional, vwap, fast, slow, trend, rsi, atr, volume_ma
            )
        ]

    def _allowed(self, bar: Bar, direction: Direction) -> bool:
        last = self._history.get((bar.symbol, bar.interval, direction))
        if last is None:
            return True
        if bar.close_time_ms - last.ts_ms >= self._cfg.repeat_cooldown_s * 1000:
            return True
        # Multiplied out so "exactly the threshold" compares exactly (no division rounding).
        return abs(bar.close - last.entry) * 100.0 > self._cfg.repeat_min_move_pct * last.entry

    def _remember(self, e: DedupEntry) -> None:
        key = (e.symbol, e.timeframe, e.direction)
        self._history[key] = e
        heapq.heappush(self._expiry, (e.ts_ms, key))

    def _expire(self, now_ms: int) -> None:
        """Forget every entry at least `history_ttl_s` old (O(log n) per entry, none scanned twice)."""
        expiry = self._expiry
        history = self._history
        while expiry and now_ms - expiry[0][0] >= self._ttl_ms:
            ts_ms, key = heapq.heappop(expiry)
            e = history.get(key)
            if e is not None and e.ts_ms == ts_ms:
                del history[key]

    def _signal(
        self,
        bar: Bar,
        direction: Direction,
        bars_since: int,
        met: int,
        optional: dict[str, bool],
        vwap: float,
        fast: float,
        slow: float,
        trend: float,
        rsi: float,
        atr: float,
        volume_ma: float,
    ) -> Signal:
        cfg = self._cfg
        entry = bar.close
        sign = 1.0 if direction is Direction.BULLISH else -1.0
        stop = entry - sign * cfg.stop_atr * atr
        target = entry + sign * cfg.target_atr * atr
        if fast > slow > trend:
            bias = "bullish"
        elif fast < slow < trend:
            bias = "bearish"
        else:
            bias = "neutral"
        return Signal(
            detector=DETECTOR,
            rule_version=RULE_VERSION,
            kind=KIND,
            symbol=bar.symbol,
            timeframe=bar.interval,
            window_start_ms=bar.open_time_ms,
            window_end_ms=bar.close_time_ms,
            direction=direction,
            severity=_SEVERITY_BY_CONFIDENCE.get(met, Severity.INFO),
            conditions=(
                passed("bars_since_ema_cross", bars_since, "<", cfg.cross_within_bars),
                passed("rsi_min", rsi, ">=", cfg.rsi_low),
                passed("rsi_max", rsi, "<=", cfg.rsi_high),
                passed("factors_met", met, ">=", cfg.min_factors),
            ),
            metrics={
                "entry": entry,
                "stop": stop,
                "target": target,
                "atr": atr,
                "risk_reward": cfg.target_atr / cfg.stop_atr,
                "stop_distance_pct": abs(entry - stop) / entry * 100.0,
                "target_distance_pct": abs(target - entry) / entry * 100.0,
                "confidence": float(met),
                "rsi": rsi,
                "vwap": vwap,
                "ema_fast": fast,
                "ema_slow": slow,
                "ema_trend": trend,
                "volume": bar.volume,
                "volume_ma": volume_ma,
                "volume_ratio": bar.volume / volume_ma if volume_ma > 0 else 0.0,
            },
            labels={
                "bias": bias,
                "factors": ",".join(["ema_cross", "rsi", *(k for k, v in optional.items() if v)]),
                "missing": ",".join(k for k, v in optional.items() if not v),
            },
            symbols=(bar.symbol,),
            ts_event_ns=bar.ts_event_ns,
        )

    # -- persistence ------------------------------------------------------------------------------

    def state(self) -> ConfluenceState:
        return ConfluenceState(entries=tuple(self._history.values()))

    def restore(self, state: ConfluenceState) -> None:
        """Replace the repeat-suppression memory (indicator state is rebuilt from bars, not restored)."""
        self._history = {}
        self._expiry = []
        for e in state.entries:
            self._remember(e)
