"""The per-bar hooks of both markets: scenario overrides and tape from the start time on, plus background.

Shared by the live `Simulator` and by socket-free drivers (the evaluation) so both produce the same bars,
tape and labels for a seed.
"""

from __future__ import annotations

import numpy as np

from cryptoradar.sim.background import background_liquidations, background_trades
from cryptoradar.sim.model import BarOverride, MarketModel
from cryptoradar.sim.scenarios import Label, ScenarioInjector, TapeEvent


class ScenarioSchedule:
    """Decides each new bar's overrides and tape events; deterministic for (seed, models, start)."""

    def __init__(
        self,
        seed: int,
        every_bars: int,
        scenarios: bool,
        start_ms: int,
        spot: MarketModel,
        futures: MarketModel,
        scenarios_until_ms: int | None = None,
    ) -> None:
        """Scenarios start in [start_ms, scenarios_until_ms) (no end by default); background from start_ms."""
        self.start_ms = start_ms
        self._until_ms = scenarios_until_ms
        self._scenarios = scenarios
        self._futures = futures
        self._injector = ScenarioInjector(seed, every_bars, spot, futures)
        self._liq_rng = np.random.default_rng([seed, 3])
        self._trade_rng = np.random.default_rng([seed, 4])

    def spot_bar(self, open_ms: int) -> tuple[dict[int, BarOverride], list[TapeEvent]]:
        """Overrides for the spot bar opening at `open_ms` (call once per bar, in order)."""
        if not self._scenarios or open_ms < self.start_ms:
            return {}, []
        return self._injector.spot_overrides(open_ms, self._until_ms is None or open_ms < self._until_ms), []

    def futures_bar(self, open_ms: int) -> tuple[dict[int, BarOverride], list[TapeEvent]]:
        """Overrides and tape events for the futures bar opening at `open_ms` (call once per bar, in order).

        Background liquidations never share a (symbol, second) with a scenario's: Binance would push only
        one of them.
        """
        if open_ms < self.start_ms:
            return {}, []
        starts = self._scenarios and (self._until_ms is None or open_ms < self._until_ms)
        overrides, tape = self._injector.futures_overrides(open_ms) if starts else ({}, [])
        taken = {(e.j, e.at_ms // 1000) for e in tape}
        liquidations = background_liquidations(self._liq_rng, self._futures, open_ms)
        tape += [e for e in liquidations if (e.j, e.at_ms // 1000) not in taken]
        return overrides, tape + background_trades(self._trade_rng, self._futures, open_ms)

    def completed(self, now_ms: int) -> list[Label]:
        """Labels whose window ended before `now_ms`, each returned once, in end order."""
        return self._injector.completed(now_ms)
