"""Unlabelled background activity on the USD-M tape: liquidations and the large-trade tail.

Both scale with the symbol's liquidity (`quote_per_min`): a liquid contract sees more and larger forced
orders and block trades than a thin one. Sizes follow a Pareto tail with exponent 1.5, the exponent
measured for trade sizes on real markets (Gopikrishnan et al. 2000, "Statistical properties of share
volume traded in financial markets"), so an occasional background event is far larger than the typical one:
these are the genuine false positives a detector has to live with.

Only the large-trade tail is generated (trades from `TRADE_TAIL_SHARE` of a minute's quote volume up);
the small trades below it carry no information for any detector and cost time, so they stay out of the
tape (the live server still makes small aggTrades lazily for subscribed streams).
"""

from __future__ import annotations

import numpy as np

from cryptoradar.events import Side
from cryptoradar.sim.model import BAR_MS, F64, MarketModel
from cryptoradar.sim.scenarios import TapeEvent, TapeKind

PARETO_ALPHA = 1.5
_REFERENCE_QUOTE_PER_MIN = 1_000_000.0
LIQUIDATIONS_PER_MIN_AT_REFERENCE = 0.3
"""Mean liquidations per minute of a contract trading the reference 1M USD per minute (scaled by sqrt)."""
LIQUIDATION_MIN_USD_AT_REFERENCE = 1_500.0
"""Pareto scale (smallest liquidation) for the reference contract, scaled by sqrt of liquidity."""
TRADE_TAIL_SHARE = 0.01
"""Tail trades start at this share of the contract's mean 1m quote volume."""
TAIL_TRADES_PER_MIN = 0.5


def _liquidity_ratio(model: MarketModel) -> F64:
    quote = np.array([s.quote_per_min for s in model.specs])
    ratio: F64 = np.sqrt(np.maximum(quote, 1.0) / _REFERENCE_QUOTE_PER_MIN)
    return ratio


def _pareto(rng: np.random.Generator, scale_usd: float, n: int) -> F64:
    sizes: F64 = scale_usd * (1.0 - rng.random(n)) ** (-1.0 / PARETO_ALPHA)
    return sizes


def background_liquidations(rng: np.random.Generator, model: MarketModel, open_ms: int) -> list[TapeEvent]:
    """Random liquidations in the bar opening at `open_ms`, at most one per symbol per second."""
    ratio = _liquidity_ratio(model)
    rates = np.clip(LIQUIDATIONS_PER_MIN_AT_REFERENCE * ratio, 0.005, 1.0)
    counts = rng.poisson(rates)
    out: list[TapeEvent] = []
    for j in np.nonzero(counts)[0]:
        seconds = rng.choice(60, size=min(int(counts[j]), 60), replace=False)
        sizes = _pareto(rng, max(20.0, LIQUIDATION_MIN_USD_AT_REFERENCE * float(ratio[j])), len(seconds))
        for s, size in zip(seconds, sizes, strict=True):
            at_ms = open_ms + int(s) * 1000 + int(rng.integers(0, 1000))
            side = Side.SELL if rng.random() < 0.5 else Side.BUY
            out.append(TapeEvent(at_ms, int(j), TapeKind.LIQUIDATION, side, float(size)))
    return out


def background_trades(rng: np.random.Generator, model: MarketModel, open_ms: int) -> list[TapeEvent]:
    """The large-trade tail of every trading contract in the bar opening at `open_ms` (either taker side)."""
    counts = rng.poisson(TAIL_TRADES_PER_MIN, size=model.n_symbols)
    out: list[TapeEvent] = []
    for j in np.nonzero(counts)[0]:
        spec = model.specs[j]
        if not spec.trading or spec.quote_per_min <= 0:
            continue
        n = int(counts[j])
        sizes = _pareto(rng, TRADE_TAIL_SHARE * spec.quote_per_min, n)
        for size in sizes:
            at_ms = open_ms + int(rng.integers(0, BAR_MS))
            side = Side.BUY if rng.random() < 0.5 else Side.SELL
            out.append(TapeEvent(at_ms, int(j), TapeKind.AGG_TRADE, side, float(size)))
    return out
