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
- ema_cross_confluence (spot, BTCUSDT): a turn against BTC's short-term trend (up when EMA9 < EMA21 at
  the start, down otherwise): 10 more bars with that trend
  (0.3 ATR each, 0.8 x typical volume), then 22 choppy bars the other way (+0.75 / -0.45 ATR alternating, so
  RSI(6) stays inside 30-70) on volume rising from 1.5 x typical; every step gets 0.15 ATR of noise. The
  label is written only after the EMA9/EMA21 cross in the label's direction is verified on the closes, at
  `params.cross_open_ms`; `params.above_ema50` / `params.above_vwap` (UTC-day VWAP) are measured at that
  bar's close (the turn that does not cross inside its window gets no label).
- liquidation_cascade (usdm): `count` forceOrder events on one symbol within 30 s, total `notional_usd`;
  side SELL (longs liquidated, direction down) or BUY (up). Its 1m bar moves 3 ATR the same way.
- whale_cluster (usdm): `count` aggTrades within 30 s, each at least `min_notional_usd`, one taker side.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import msgspec
import numpy as np

from cryptoradar.events import Market, Side
from cryptoradar.sim.model import BAR_MS, BarOverride, C, H, L, MarketModel, Q, V


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
class _Confluence:
    start_ms: int
    bars_left: int
    up: bool


@dataclass(slots=True)
class _Breakout:
    j: int
    bars_left: int
    log_return_per_bar: float
    quote_per_bar: float


_DOWN_BARS = 10
_UP_BARS = 22
_UP_PATTERN_ATR = (0.75, -0.45)
"""Turn leg of the confluence scenario: alternating steps (in ATR) so RSI(6) stays inside its band."""
_DOWN_STEP_ATR = -0.3
_STEP_NOISE_ATR = 0.15
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
        self._confluence: _Confluence | None = None
        self._breakouts: list[_Breakout] = []
        self._quiet_until_ms: dict[int, int] = {}
        self._spot_pool = [
            i
            for i, s in enumerate(spot.specs[:100])
            if s.trading and s.quote == "USDT" and i > 0 and s.quote_per_min >= _BREAKOUT_MIN_QUOTE_PER_MIN
        ]
        self._futures_pool = [i for i, s in enumerate(futures.specs[:12]) if s.contract_type == "PERPETUAL"]
        self._btc = spot.index.get("BTCUSDT", 0)

    def spot_overrides(self, open_ms: int, start_new: bool = True) -> dict[int, BarOverride]:
        """Overrides for the spot bar opening at `open_ms` (called once per bar, in order).

        With `start_new` false, scenarios already running go on but none starts.
        """
        out: dict[int, BarOverride] = {}
        bar_no = (open_ms - self._spot.first_open_ms) // BAR_MS
        if self._confluence is not None:
            out[self._btc] = self._confluence_bar()
        elif start_new and bar_no % (self._every * 4) == 0:
            self._confluence = _Confluence(open_ms, _DOWN_BARS + _UP_BARS, self._btc_falling())
            out[self._btc] = self._confluence_bar()
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
            overrides = {j: BarOverride(move, self._typical_quote(self._futures, j) * 4.0)}
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
        self._finish_confluence()
        done = sorted((lb for lb in self._pending if lb.end_ms < now_ms), key=lambda lb: lb.end_ms)
        self._pending = [lb for lb in self._pending if lb.end_ms >= now_ms]
        return done

    def _label(self, kind: LabelKind, market: Market, symbol: str, start_ms: int, end_ms: int, direction: str,
               params: dict[str, float | int | bool | str]) -> None:  # fmt: skip
        self._pending.append(Label(kind, market, symbol, "1m", start_ms, end_ms, direction, params))

    @staticmethod
    def _typical_quote(model: MarketModel, j: int, bars: int = 20) -> float:
        """Mean 1m quote volume of symbol `j` over the last `bars` closed bars."""
        recent = model.closed_rows()[-bars:, j, Q]
        return float(recent.mean()) if len(recent) else model.specs[j].quote_per_min

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
                        self._typical_quote(self._spot, j, _BREAKOUT_VOLUME_BASE_BARS) * multiple)  # fmt: skip
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

    def _btc_falling(self) -> bool:
        """Whether BTC's EMA9 is below its EMA21 now: a turn reverses the short-term trend it starts in."""
        closes = self._spot.closed_rows()[-200:, self._btc, C]
        if len(closes) < 21:
            return bool(self._rng.random() < 0.5)
        return bool(_ema(closes, 9)[-1] < _ema(closes, 21)[-1])

    def _confluence_bar(self) -> BarOverride:
        """A turn: a falling leg, then a choppy rise on rising volume (mirrored for a bearish turn)."""
        run = self._confluence
        assert run is not None
        left = run.bars_left
        run.bars_left -= 1
        atr = float(self._spot.atr_frac[self._btc])
        typical = self._typical_quote(self._spot, self._btc)
        noise = float(self._rng.normal(0.0, _STEP_NOISE_ATR))
        sign = 1.0 if run.up else -1.0
        if left > _UP_BARS:
            return BarOverride(sign * (_DOWN_STEP_ATR + noise) * atr, typical * 0.8)
        step = _UP_BARS - left
        return BarOverride(sign * (_UP_PATTERN_ATR[step % 2] + noise) * atr, typical * (1.5 + 0.1 * step))

    def _finish_confluence(self) -> None:
        run = self._confluence
        if run is None or run.bars_left > 0:
            return
        rows = self._spot.closed_rows()
        first = (run.start_ms - self._spot.first_open_ms) // BAR_MS
        end = first + _DOWN_BARS + _UP_BARS
        if len(rows) < end:
            return
        self._confluence = None
        closes = rows[:end, self._btc, C]
        fast, slow, trend = _ema(closes, 9), _ema(closes, 21), _ema(closes, 50)
        sign = 1.0 if run.up else -1.0
        turn_from = first + _DOWN_BARS
        crosses = [
            i
            for i in range(turn_from, end)
            if sign * (fast[i] - slow[i]) > 0 and sign * (fast[i - 1] - slow[i - 1]) <= 0
        ]
        if not crosses:
            return
        i = crosses[0]
        day_first = i - (i + (self._spot.first_open_ms // BAR_MS)) % 1440
        day = rows[max(0, day_first) : i + 1, self._btc]
        typical = (day[:, H] + day[:, L] + day[:, C]) / 3.0
        vwap = float((typical * day[:, V]).sum() / max(day[:, V].sum(), 1e-12))
        cross_open_ms = self._spot.first_open_ms + i * BAR_MS
        self._label(LabelKind.EMA_CROSS_CONFLUENCE, Market.SPOT, self._spot.specs[self._btc].name, run.start_ms,
                    self._spot.first_open_ms + end * BAR_MS - 1, "up" if run.up else "down",
                    {"cross_open_ms": cross_open_ms, "above_ema50": bool(closes[i] > trend[i]),
                     "above_vwap": bool(closes[i] > vwap)})  # fmt: skip
