"""Labelled scenarios injected into the market model, with their ground truth as `Label`s (JSONL).

Schema of one label (one JSON object per line): kind, market ("spot"|"usdm"), symbol, interval ("1m"),
start_ms, end_ms (inclusive, exchange time), direction ("up"|"down"), params (numbers, flags, strings).

Kinds and what is guaranteed:
- momentum_breakout (spot): a trend-continuation breakout over `bars` 1m bars [start_ms, end_ms]. The
  symbol (among the 100 most liquid USDT pairs, those trading >= 5,000 USD a minute) is picked only where
  the close is at least `min_trend_gap_pct` beyond EMA(50) (TA-Lib seeding, from the first bar) of its 15m
  and of its 1h closes on the same side; the price then moves `move_pct` % that way (a log move of 0.08 plus
  two 2-hour standard deviations of the symbol) in equal log steps, on `volume_multiple` (5-10) x its
  mean 1m quote volume of the last 5 h. A symbol gets no new breakout within 6 h of the end of its last one.
- ema_cross_confluence (spot, BTCUSDT): the issue's confluence setup, a pullback inside a trend, once an
  hour (`_ConfluencePlanter`): up when BTC closes above its UTC-day VWAP, down otherwise. Labelled only
  when all five of the issue's conditions (EMA9/EMA21 cross on the bar or the one before, RSI(6) in 30-70,
  close beyond VWAP and EMA(50), volume > 1.5 x SMA(20) of the previous bars) held on one of the turn's
  closed 1m bars, `params.cross_open_ms` (with its `rsi` and `volume_ratio`);
  the window is the whole turn. A turn that cannot form the setup within its bar limits gets no label.
- liquidation_cascade (usdm): `count` forceOrder events on one symbol within 30 s, total `notional_usd`;
  side SELL (longs liquidated, direction down) or BUY (up). Its 1m bar moves 3 ATR the same way.
- whale_cluster (usdm): `count` aggTrades within 30 s, each at least `min_notional_usd`, one taker side.
"""

from __future__ import annotations

import copy
import math
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum

import msgspec
import numpy as np

from cryptoradar.events import Market, Side
from cryptoradar.indicators import EMA, RSI, SMA, VWAP
from cryptoradar.sim.model import BAR_MS, F64, SUBSTEPS, BarOverride, C, H, L, MarketModel, Q, V


class LabelKind(StrEnum):
    MOMENTUM_BREAKOUT = "momentum_breakout"
    EMA_CROSS_CONFLUENCE = "ema_cross_confluence"
    LIQUIDATION_CASCADE = "liquidation_cascade"
    WHALE_CLUSTER = "whale_cluster"


class Label(msgspec.Struct, frozen=True):
    kind: LabelKind
    market: Market
    symbol: str
    interval: str
    start_ms: int
    end_ms: int
    direction: str
    params: dict[str, float | int | bool | str]


class TapeKind(StrEnum):
    LIQUIDATION = "liquidation"
    AGG_TRADE = "agg_trade"


@dataclass(frozen=True, slots=True, order=True)
class TapeEvent:
    """A futures event due at `at_ms` on symbol index `j`; the price is taken when it is published."""

    at_ms: int
    j: int
    kind: TapeKind = field(compare=False)
    side: Side = field(compare=False)
    notional_usd: float = field(compare=False)


@dataclass(slots=True)
class _Breakout:
    j: int
    bars_left: int
    log_return_per_bar: float
    quote_per_bar: float


BREAKOUT_BARS = 20
_BREAKOUT_BASE_MOVE = 0.08
_BREAKOUT_NOISE_SDS = 2.0
_BREAKOUT_QUIET_MS = 6 * 3_600_000
_BREAKOUT_VOLUME_BASE_BARS = 300
"""A breakout's volume is a multiple of the mean over the last 5 hours, not of a possibly quiet last 20 min."""
_MIN_TREND_GAP_PCT = 1.0
_BREAKOUT_MIN_QUOTE_PER_MIN = 5_000.0
_TREND_EMA_PERIOD = 50
_BREAKOUT_TRIES = 12


def _typical_quote(model: MarketModel, j: int, bars: int = 20) -> float:
    """Mean 1m quote volume of symbol `j` over the last `bars` closed bars."""
    recent = model.closed_rows()[-bars:, j, Q]
    return float(recent.mean()) if len(recent) else model.specs[j].quote_per_min


def _ema(values: np.ndarray, span: int) -> np.ndarray:
    """EMA seeded with the mean of the first `span` values (TA-Lib's convention); NaN before that."""
    alpha = 2.0 / (span + 1.0)
    out = np.full_like(values, np.nan)
    if len(values) < span:
        return out
    acc = float(values[:span].mean())
    out[span - 1] = acc
    for i in range(span, len(values)):
        acc = alpha * float(values[i]) + (1.0 - alpha) * acc
        out[i] = acc
    return out


class ScenarioInjector:
    """Decides, bar by bar, which scenario overrides the models get; deterministic for a seed."""

    def __init__(self, seed: int, every_bars: int, spot: MarketModel, futures: MarketModel) -> None:
        self._rng = np.random.default_rng([seed, 99])
        self._every = every_bars
        self._spot = spot
        self._futures = futures
        self._pending: list[Label] = []
        self._confluence = _ConfluencePlanter(seed, spot)
        self._breakouts: list[_Breakout] = []
        self._quiet_until_ms: dict[int, int] = {}
        self._spot_pool = [
            i
            for i, s in enumerate(spot.specs[:100])
            if s.trading and s.quote == "USDT" and i > 0 and s.quote_per_min >= _BREAKOUT_MIN_QUOTE_PER_MIN
        ]
        self._futures_pool = [i for i, s in enumerate(futures.specs[:12]) if s.contract_type == "PERPETUAL"]

    def spot_overrides(self, open_ms: int, start_new: bool = True) -> dict[int, BarOverride]:
        """Overrides for the spot bar opening at `open_ms` (called once per bar, in order).

        With `start_new` false, scenarios already running go on but none starts.
        """
        out: dict[int, BarOverride] = {}
        bar_no = (open_ms - self._spot.first_open_ms) // BAR_MS
        turn = self._confluence.next_bar(open_ms, start_new and bar_no % (self._every * 4) == 0)
        if turn is not None:
            out[self._confluence.btc] = turn
        for run in self._breakouts:
            out[run.j] = BarOverride(
                run.log_return_per_bar, run.quote_per_bar * float(self._rng.uniform(0.8, 1.2))
            )
            run.bars_left -= 1
        self._breakouts = [run for run in self._breakouts if run.bars_left > 0]
        if start_new and bar_no % self._every == self._every // 2:
            started = self._start_breakout(open_ms)
            if started is not None:
                out[started.j] = BarOverride(started.log_return_per_bar, started.quote_per_bar)
        return out

    def futures_overrides(self, open_ms: int) -> tuple[dict[int, BarOverride], list[TapeEvent]]:
        bar_no = (open_ms - self._futures.first_open_ms) // BAR_MS
        if bar_no % self._every != 0 or not self._futures_pool:
            return {}, []
        j = int(self._rng.choice(self._futures_pool))
        side = Side.SELL if self._rng.random() < 0.6 else Side.BUY
        direction = "down" if side is Side.SELL else "up"
        t0 = open_ms + int(self._rng.integers(0, 25)) * 1000 + int(self._rng.integers(0, 100))
        count = int(
            self._rng.integers(8, 15) if bar_no % (2 * self._every) == 0 else self._rng.integers(4, 8)
        )
        gaps = np.sort(self._rng.choice(np.arange(1, 29), size=count - 1, replace=False)) * 1000
        times = [t0, *(t0 + int(g) + int(self._rng.integers(0, 100)) for g in gaps)]
        symbol = self._futures.specs[j].name
        if bar_no % (2 * self._every) == 0:
            notionals = self._rng.uniform(150_000.0, 1_500_000.0, size=count)
            events = [
                TapeEvent(t, j, TapeKind.LIQUIDATION, side, float(x))
                for t, x in zip(times, notionals, strict=True)
            ]
            move = (-3.0 if side is Side.SELL else 3.0) * float(self._futures.atr_frac[j])
            overrides = {j: BarOverride(move, _typical_quote(self._futures, j) * 4.0)}
            self._label(LabelKind.LIQUIDATION_CASCADE, Market.USDM, symbol, times[0], times[-1], direction,
                        {"count": count, "notional_usd": round(float(notionals.sum()), 2), "side": side.value})  # fmt: skip
            return overrides, events
        notionals = self._rng.uniform(1_000_000.0, 4_000_000.0, size=count)
        trade_side = Side.BUY if side is Side.BUY else Side.SELL
        events = [
            TapeEvent(t, j, TapeKind.AGG_TRADE, trade_side, float(x))
            for t, x in zip(times, notionals, strict=True)
        ]
        self._label(LabelKind.WHALE_CLUSTER, Market.USDM, symbol, times[0], times[-1], direction,
                    {"count": count, "min_notional_usd": 1_000_000.0, "notional_usd": round(float(notionals.sum()), 2),
                     "side": trade_side.value})  # fmt: skip
        return {}, events

    def completed(self, now_ms: int) -> list[Label]:
        """Labels whose window ended before `now_ms`, each returned once, in end order."""
        self._pending += self._confluence.take_labels()
        done = sorted((lb for lb in self._pending if lb.end_ms < now_ms), key=lambda lb: lb.end_ms)
        self._pending = [lb for lb in self._pending if lb.end_ms >= now_ms]
        return done

    def _label(self, kind: LabelKind, market: Market, symbol: str, start_ms: int, end_ms: int, direction: str,
               params: dict[str, float | int | bool | str]) -> None:  # fmt: skip
        self._pending.append(Label(kind, market, symbol, "1m", start_ms, end_ms, direction, params))

    def _start_breakout(self, open_ms: int) -> _Breakout | None:
        """Starts a trend-continuation breakout on a liquid symbol with a clear trend (None if none has one)."""
        candidates = [j for j in self._spot_pool if self._quiet_until_ms.get(j, 0) <= open_ms]
        if not candidates:
            return None
        for j in self._rng.permutation(candidates)[:_BREAKOUT_TRIES]:
            j = int(j)
            gaps = [self._trend_gap_pct(j, minutes) for minutes in (15, 60)]
            if all(g >= _MIN_TREND_GAP_PCT for g in gaps) or all(g <= -_MIN_TREND_GAP_PCT for g in gaps):
                break
        else:
            return None
        up = gaps[0] > 0
        spec = self._spot.specs[j]
        log_move = _BREAKOUT_BASE_MOVE + _BREAKOUT_NOISE_SDS * spec.vol_1m * float(np.sqrt(120.0))
        signed = log_move if up else -log_move
        multiple = float(self._rng.uniform(5.0, 10.0))
        run = _Breakout(j, BREAKOUT_BARS, signed / BREAKOUT_BARS,
                        _typical_quote(self._spot, j, _BREAKOUT_VOLUME_BASE_BARS) * multiple)  # fmt: skip
        end_ms = open_ms + BREAKOUT_BARS * BAR_MS - 1
        self._quiet_until_ms[j] = end_ms + _BREAKOUT_QUIET_MS
        self._label(LabelKind.MOMENTUM_BREAKOUT, Market.SPOT, spec.name, open_ms, end_ms, "up" if up else "down",
                    {"bars": BREAKOUT_BARS, "move_pct": round(100.0 * abs(float(np.expm1(signed))), 3),
                     "volume_multiple": round(multiple, 3), "min_trend_gap_pct": _MIN_TREND_GAP_PCT,
                     "trend_gap_15m_pct": round(gaps[0], 3), "trend_gap_1h_pct": round(gaps[1], 3)})  # fmt: skip
        run.bars_left -= 1
        if run.bars_left > 0:
            self._breakouts.append(run)
        return run

    def _trend_gap_pct(self, j: int, minutes: int) -> float:
        """(close / EMA(50) - 1) in % on the closed `minutes` bars of spot symbol `j` (0 without history)."""
        rows = self._spot.closed_rows()
        first_minute = self._spot.first_open_ms // BAR_MS
        ends = np.nonzero((first_minute + np.arange(len(rows)) + 1) % minutes == 0)[0]
        if len(ends) == 0:
            return 0.0
        closes = rows[ends, j, C]
        trend = _ema(closes, min(_TREND_EMA_PERIOD, len(closes)))[-1]
        return float((closes[-1] / trend - 1.0) * 100.0)


class _Phase(StrEnum):
    TREND = "trend"
    PULLBACK = "pullback"
    FOLLOW = "follow"


_RSI_BAND = (30.0, 70.0)
_CONFLUENCE_VOLUME_FACTOR = 1.5
_STEP_NOISE_ATR = 0.15
_TREND_MIN_BARS = 8
_TREND_EMA50_GAP_ATR = 4.0
_TREND_VWAP_GAP_ATR = 3.0
_PHASES: dict[_Phase, tuple[int, float, float]] = {
    _Phase.TREND: (25, 0.5, 0.9),
    _Phase.PULLBACK: (18, 0.0, 0.7),
    _Phase.FOLLOW: (3, 0.3, 1.2),
}
"""Per phase: most bars planted, step in ATR before noise (the pullback steers by EMA21), quote
volume x the typical of the last 20."""
_PULLBACK_OFFSETS_ATR = (-0.6, 0.0)
"""The pullback's closes alternate between these distances from EMA21 (in ATR, mirrored when bearish)..."""
_PULLBACK_MAX_STEP_ATR = 1.0
"""... moving at most this far a bar."""
_REBOUND_VOLUME_MULTIPLE = 2.2
_REBOUND_STEPS_ATR = tuple(round(0.1 * k, 1) for k in range(1, 31))
_REBOUND_RSI_MARGIN = 3.0
_REBOUND_PRICE_MARGIN_ATR = 0.1
_REBOUND_CROSS_MARGIN_ATR = 0.01
"""The planted rebound clears each condition by these margins, so rounding and wicks cannot undo it."""


class _IssueFactors:
    """The issue's five confluence conditions on BTC's 1m bars, with the indicators the detector uses.

    EMA(9) / EMA(21) cross on this bar or the one before, RSI(6) inside 30-70, close beyond the UTC-day
    VWAP and EMA(50), volume above 1.5 x the SMA(20) of the previous bars' volume.
    """

    __slots__ = ("close", "diffs", "fast", "rsi", "slow", "trend", "vol_ma", "volume_ratio", "vwap")

    def __init__(self) -> None:
        self.fast, self.slow, self.trend = EMA(9), EMA(21), EMA(_TREND_EMA_PERIOD)
        self.rsi = RSI(6)
        self.vol_ma = SMA(20)
        self.vwap = VWAP()
        self.diffs: deque[float] = deque(maxlen=3)
        self.close = math.nan
        self.volume_ratio = math.nan

    def update(self, open_ms: int, high: float, low: float, close: float, volume: float) -> None:
        baseline = self.vol_ma.value  # the previous bars only, as the detector's
        self.vol_ma.update(volume)
        self.volume_ratio = volume / baseline if baseline > 0.0 else math.nan
        self.vwap.update(high, low, close, volume, open_ms)
        fast, slow = self.fast.update(close), self.slow.update(close)
        self.trend.update(close)
        self.rsi.update(close)
        if fast == fast and slow == slow:
            self.diffs.append(fast - slow)
        self.close = close

    def after(self, open_ms: int, close: float, volume: float) -> _IssueFactors:
        """A copy that has also seen a flat bar at `close` (what the next bar would make of the state)."""
        nxt = copy.deepcopy(self)
        nxt.update(open_ms, close, close, close, volume)
        return nxt

    def holds(
        self, up: bool, rsi_margin: float = 0.0, price_margin: float = 0.0, cross_margin: float = 0.0
    ) -> bool:
        """All five hold for the last bar, each by the margins (RSI points, price units) when given."""
        sign = 1.0 if up else -1.0
        d = self.diffs
        if len(d) < 3 or not sign * d[-1] > cross_margin or min(sign * d[0], sign * d[1]) > 0.0:
            return False
        return (
            _RSI_BAND[0] + rsi_margin <= self.rsi.value <= _RSI_BAND[1] - rsi_margin
            and sign * (self.close - self.vwap.value) > price_margin
            and sign * (self.close - self.trend.value) > price_margin
            and self.volume_ratio > _CONFLUENCE_VOLUME_FACTOR
        )


@dataclass(slots=True)
class _Turn:
    start_ms: int
    up: bool
    phase: _Phase = _Phase.TREND
    bars: int = 0
    """Bars planted in the current phase."""
    signal: dict[str, float | int | bool | str] | None = None
    """What the first bar on which all five conditions held measured (None while there was none)."""


class _ConfluencePlanter:
    """Plants the issue's confluence setup on BTCUSDT once an hour and labels the ones that verify.

    A bullish turn (bearish mirrored), chosen when BTC closes above its day's VWAP: a trend leg until the
    close is >= 4 ATR above EMA(50), >= 3 ATR above VWAP and EMA9 > EMA21; a pullback on thin volume that
    chops around EMA21 until EMA9 is below it and one bar can cross back; that rebound bar on 2.2 x the
    volume SMA(20), its close picked at random among those that cross EMA9 back above EMA21 with RSI(6)
    inside 33-67 and the close above VWAP and EMA(50); then 3 bars of follow-through. The label is written
    when the turn ends, and only when all five conditions held on one of its closed bars; a turn that
    cannot form its setup within the bar limits (`_PHASES`) ends unlabelled.
    """

    def __init__(self, seed: int, spot: MarketModel) -> None:
        self.btc = spot.index.get("BTCUSDT", 0)
        self._rng = np.random.default_rng([seed, 98])  # its own stream: tuning it moves no other scenario
        self._spot = spot
        self._labels: list[Label] = []
        self._factors = _IssueFactors()
        self._fed = 0
        self._turn: _Turn | None = None

    def next_bar(self, open_ms: int, may_start: bool) -> BarOverride | None:
        """BTC's override for the bar opening at `open_ms` (call once per bar, in order)."""
        self._observe(open_ms)
        turn = self._turn
        if turn is not None:
            override = self._plant(turn)
            if override is not None:
                return override
            self._finish(turn, open_ms)
        if not may_start:
            return None
        f = self._factors
        up = f.close > f.vwap.value if f.vwap.ready else bool(self._rng.random() < 0.5)
        self._turn = _Turn(open_ms, up)
        return self._plant(self._turn)

    def take_labels(self) -> list[Label]:
        """The labels of the turns that ended since the last call."""
        labels, self._labels = self._labels, []
        return labels

    def _observe(self, open_ms: int) -> None:
        """Feeds BTC's bars up to the one before `open_ms` (the model's current bar is complete by now)."""
        spot, j = self._spot, self.btc
        rows = spot.closed_rows()
        while self._fed < spot.closed_count:
            self._feed(self._fed, rows[self._fed, j])
        if self._fed == spot.closed_count and spot.current_open_ms < open_ms:
            self._feed(self._fed, spot.current[SUBSTEPS - 1, j])

    def _feed(self, index: int, row: F64) -> None:
        bar_open_ms = self._spot.first_open_ms + index * BAR_MS
        f = self._factors
        f.update(bar_open_ms, float(row[H]), float(row[L]), float(row[C]), float(row[V]))
        self._fed = index + 1
        turn = self._turn
        if turn is not None and turn.signal is None and bar_open_ms >= turn.start_ms and f.holds(turn.up):
            turn.signal = {"cross_open_ms": bar_open_ms, "rsi": round(f.rsi.value, 2),
                           "volume_ratio": round(f.volume_ratio, 3)}  # fmt: skip

    def _plant(self, turn: _Turn) -> BarOverride | None:
        """The next bar of `turn`, or None when it is over."""
        f = self._factors
        sign = 1.0 if turn.up else -1.0
        atr_frac = float(self._spot.atr_frac[self.btc])
        atr = atr_frac * f.close
        typical = _typical_quote(self._spot, self.btc)
        noise = float(self._rng.normal(0.0, _STEP_NOISE_ATR))
        diff = f.diffs[-1] if f.diffs else 0.0
        if turn.phase is _Phase.TREND and turn.bars >= _TREND_MIN_BARS and sign * diff > 0.0 and (
            sign * (f.close - f.trend.value) >= _TREND_EMA50_GAP_ATR * atr
            and sign * (f.close - f.vwap.value) >= _TREND_VWAP_GAP_ATR * atr
        ):  # fmt: skip
            turn.phase, turn.bars = _Phase.PULLBACK, 0
        limit, step_atr, volume = _PHASES[turn.phase]
        if turn.bars >= limit:
            return None
        turn.bars += 1
        if turn.phase is not _Phase.PULLBACK:
            return BarOverride(sign * (step_atr + noise) * atr_frac, typical * volume)
        if sign * diff < 0.0:
            rebound = self._rebound(turn.up, atr_frac, atr)
            if rebound is not None:
                turn.phase, turn.bars = _Phase.FOLLOW, 0
                return rebound
        # Chop around EMA21, just below it for a bullish turn: EMA9 falls below EMA21 and then converges
        # to it from below, so that one bar of reasonable size can cross it back.
        target = f.slow.value + sign * (_PULLBACK_OFFSETS_ATR[turn.bars % 2] + noise) * atr
        limit_log = _PULLBACK_MAX_STEP_ATR * atr_frac
        return BarOverride(min(max(math.log(target / f.close), -limit_log), limit_log), typical * volume)

    def _rebound(self, up: bool, atr_frac: float, atr: float) -> BarOverride | None:
        """The rebound bar: a close picked among those that make all five conditions hold (None if none)."""
        f = self._factors
        sign = 1.0 if up else -1.0
        volume = _REBOUND_VOLUME_MULTIPLE * f.vol_ma.value
        open_ms = self._spot.first_open_ms + self._fed * BAR_MS
        feasible = [
            step
            for step in _REBOUND_STEPS_ATR
            if f.after(open_ms, f.close * math.exp(sign * step * atr_frac), volume).holds(
                up, _REBOUND_RSI_MARGIN, _REBOUND_PRICE_MARGIN_ATR * atr, _REBOUND_CROSS_MARGIN_ATR * atr
            )
        ]
        if not feasible:
            return None
        step = float(self._rng.choice(feasible))
        log_return = sign * step * atr_frac
        return BarOverride(log_return, volume * f.close * math.exp(log_return))

    def _finish(self, turn: _Turn, open_ms: int) -> None:
        self._turn = None
        if turn.signal is None:
            return
        self._labels.append(Label(LabelKind.EMA_CROSS_CONFLUENCE, Market.SPOT, self._spot.specs[self.btc].name,
                                  "1m", turn.start_ms, open_ms - 1, "up" if turn.up else "down", turn.signal))  # fmt: skip
