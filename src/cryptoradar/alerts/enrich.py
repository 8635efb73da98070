"""Context lines added to an alert: regime, co-moving symbols, spread, funding, hit rate.

An `Enricher` is pure and synchronous: it is fed events as they flow (`observe`) and asked for lines
when an alert is rendered. Staleness is judged on event time, never wall time. The hit rate of similar
setups comes from backtest statistics, which the app loads and plugs in as `hit_rate` (this layer may
not import the backtest); without them the line says "n/a".
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from cryptoradar.events import BookTicker, Direction, MarkPrice, Signal

_NS_PER_S = 1_000_000_000

HitRateLine = Callable[[Signal], str]
"""signal -> its "Hit rate of similar setups ..." context line."""


def no_hit_rate(_signal: Signal) -> str:
    return "Hit rate of similar setups: n/a"


class Enricher(Protocol):
    def observe(self, event: BookTicker | MarkPrice | Signal) -> None: ...

    def context_lines(self, signal: Signal) -> list[str]: ...


class MarketContextEnricher:
    """Keeps the latest spread and funding per symbol and recent signals for co-movement."""

    def __init__(
        self,
        *,
        co_move_window_s: float = 300.0,
        stale_after_s: float = 120.0,
        hit_rate: HitRateLine = no_hit_rate,
    ) -> None:
        self.hit_rate = hit_rate
        self._co_move_window_ns = int(co_move_window_s * _NS_PER_S)
        self._stale_after_ns = int(stale_after_s * _NS_PER_S)
        self._spread_bps: dict[str, tuple[float, int]] = {}
        self._funding: dict[str, tuple[float, int]] = {}
        # Per direction: symbol -> event time of its latest signal, oldest first (pruned as time moves).
        self._recent: dict[Direction, OrderedDict[str, int]] = {d: OrderedDict() for d in Direction}

    def observe(self, event: BookTicker | MarkPrice | Signal) -> None:
        if isinstance(event, BookTicker):
            self._spread_bps[event.symbol] = (event.spread_bps, event.ts_event_ns)
        elif isinstance(event, MarkPrice):
            self._funding[event.symbol] = (event.funding_rate, event.ts_event_ns)
        else:
            recent = self._recent[event.direction]
            recent[event.symbol] = event.ts_event_ns
            recent.move_to_end(event.symbol)

    def _fresh(self, entry: tuple[float, int] | None, at_ns: int) -> float | None:
        if entry is None or abs(at_ns - entry[1]) > self._stale_after_ns:
            return None
        return entry[0]

    def context_lines(self, signal: Signal) -> list[str]:
        at_ns = signal.ts_event_ns
        lines: list[str] = []
        regime = signal.labels.get("regime")
        if regime:
            lines.append(f"Regime: {regime}")
        recent = self._recent[signal.direction]
        while recent:
            oldest_symbol, oldest_ns = next(iter(recent.items()))
            if at_ns - oldest_ns <= self._co_move_window_ns:
                break
            del recent[oldest_symbol]
        others = len(recent) - (signal.symbol in recent)
        if others > 0:
            shown: list[str] = []
            for symbol in reversed(recent):
                if symbol != signal.symbol:
                    shown.append(symbol)
                if len(shown) == 5:
                    break
            more = f" +{others - len(shown)}" if others > len(shown) else ""
            lines.append(f"Co-moving: {', '.join(shown)}{more}")
        spread = self._fresh(self._spread_bps.get(signal.symbol), at_ns)
        if spread is not None:
            lines.append(f"Spread: {spread:.1f} bps")
        funding = self._fresh(self._funding.get(signal.symbol), at_ns)
        if funding is not None:
            lines.append(f"Funding: {funding * 100:+.4f}%")
        lines.append(self.hit_rate(signal))
        return lines
