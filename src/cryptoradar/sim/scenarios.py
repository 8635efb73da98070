"""Labelled scenarios injected into the market model, with their ground truth as `Label`s (JSONL).

Schema of one label (one JSON object per line): kind, market ("spot"|"usdm"), symbol, interval ("1m"),
start_ms, end_ms (inclusive, exchange time), direction ("up"|"down"), params (numbers, flags, strings).

Kinds and what is guaranteed:
- momentum_breakout (spot): one 1m bar [start_ms, end_ms] moving `atr_multiple` x ATR(14) with quote volume
  set to mean + `volume_sd` x sd of the 20 bars before it (volume z well above 3).
- ema_cross_confluence (spot, BTCUSDT): 15 falling bars, then 15 rising bars on rising volume; the label is
  written only after the EMA9/EMA21 upward cross is verified on the closes, at `params.cross_open_ms`;
  `params.above_ema50` / `params.above_vwap` (UTC-day VWAP) are measured at that bar's close.
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


_DOWN_BARS = 15
_UP_BARS = 15


def _ema(values: np.ndarray, span: int) -> np.ndarray:
    alpha = 2.0 / (span + 1.0)
    out = np.empty_like(values)
    acc = values[0]
    for i, v in enumerate(values):
        acc = alpha * v + (1.0 - alpha) * acc
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
        self._spot_pool = [
            i for i, s in enumerate(spot.specs[:100]) if s.trading and s.quote == "USDT" and i > 0
        ]
        self._futures_pool = [i for i, s in enumerate(futures.specs[:12]) if s.contract_type == "PERPETUAL"]
        self._btc = spot.index.get("BTCUSDT", 0)

    def spot_overrides(self, open_ms: int) -> dict[int, BarOverride]:
        """Overrides for the spot bar opening at `open_ms` (called once per bar, in order)."""
        out: dict[int, BarOverride] = {}
        bar_no = (open_ms - self._spot.first_open_ms) // BAR_MS
        if self._confluence is not None:
            out[self._btc] = self._confluence_bar()
        elif bar_no % (self._every * 4) == 0:
            self._confluence = _Confluence(open_ms, _DOWN_BARS + _UP_BARS)
            out[self._btc] = self._confluence_bar()
        if bar_no % self._every == self._every // 2:
            j = int(self._rng.choice(self._spot_pool))
            out[j] = self._breakout(j, open_ms)
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
    def _typical_quote(model: MarketModel, j: int) -> float:
        recent = model.closed_rows()[-20:, j, Q]
        return float(recent.mean()) if len(recent) else model.specs[j].quote_per_min

    def _breakout(self, j: int, open_ms: int) -> BarOverride:
        recent = self._spot.closed_rows()[-20:, j, Q]
        mean, sd = float(recent.mean()), float(recent.std())
        quote_volume = max(mean + 6.0 * sd, 5.0 * mean)
        up = bool(self._rng.random() < 0.7)
        atr_multiple = 4.0
        move = atr_multiple * float(self._spot.atr_frac[j]) * (1.0 if up else -1.0)
        self._label(LabelKind.MOMENTUM_BREAKOUT, Market.SPOT, self._spot.specs[j].name, open_ms, open_ms + BAR_MS - 1,
                    "up" if up else "down", {"atr_multiple": atr_multiple, "volume_sd": 6.0})  # fmt: skip
        return BarOverride(move, quote_volume)

    def _confluence_bar(self) -> BarOverride:
        assert self._confluence is not None
        left = self._confluence.bars_left
        self._confluence.bars_left -= 1
        atr = float(self._spot.atr_frac[self._btc])
        typical = self._typical_quote(self._spot, self._btc)
        if left > _UP_BARS:
            return BarOverride(-0.35 * atr, typical * 0.8)
        step = _UP_BARS - left
        return BarOverride(0.9 * atr, typical * (1.5 + 0.1 * step))

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
        up_from = first + _DOWN_BARS
        crosses = [i for i in range(up_from, end) if fast[i] > slow[i] and fast[i - 1] <= slow[i - 1]]
        if not crosses:
            return
        i = crosses[0]
        day_first = i - (i + (self._spot.first_open_ms // BAR_MS)) % 1440
        day = rows[max(0, day_first) : i + 1, self._btc]
        typical = (day[:, H] + day[:, L] + day[:, C]) / 3.0
        vwap = float((typical * day[:, V]).sum() / max(day[:, V].sum(), 1e-12))
        cross_open_ms = self._spot.first_open_ms + i * BAR_MS
        self._label(LabelKind.EMA_CROSS_CONFLUENCE, Market.SPOT, self._spot.specs[self._btc].name, run.start_ms,
                    self._spot.first_open_ms + end * BAR_MS - 1, "up",
                    {"cross_open_ms": cross_open_ms, "above_ema50": bool(closes[i] > trend[i]),
                     "above_vwap": bool(closes[i] > vwap)})  # fmt: skip


def background_liquidations(rng: np.random.Generator, model: MarketModel, open_ms: int) -> list[TapeEvent]:
    """Small random liquidations in the bar opening at `open_ms`, at most one per symbol per second."""
    counts = rng.poisson(0.2, size=model.n_symbols)
    out: list[TapeEvent] = []
    for j in np.nonzero(counts)[0]:
        seconds = rng.choice(60, size=min(int(counts[j]), 60), replace=False)
        for s in seconds:
            at_ms = open_ms + int(s) * 1000 + int(rng.integers(0, 1000))
            side = Side.SELL if rng.random() < 0.5 else Side.BUY
            out.append(TapeEvent(at_ms, int(j), TapeKind.LIQUIDATION, side, float(rng.lognormal(8.5, 1.0))))
    return out
