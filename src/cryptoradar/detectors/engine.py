"""The one entry point the app and the backtest both call: events in, signals out, in a fixed order.

Routing: closed and open `Bar`s go to momentum (which advances its grouping clock) and confluence (each
filters on symbol, interval, market and `closed`); USD-M `Trade` and `Liquidation` go to the futures
radar. Every event's time also advances momentum's grouping clock, so a held momentum group is released
by whatever event comes next, live or replayed: identical input gives identical output.
"""

from __future__ import annotations

import math

from prometheus_client import Counter

from cryptoradar.config.detectors import DetectorsConfig
from cryptoradar.core.metrics import SIGNALS
from cryptoradar.detectors.confluence import ConfluenceDetector
from cryptoradar.detectors.momentum import MomentumDetector
from cryptoradar.detectors.radar import FuturesRadar
from cryptoradar.events import Bar, Event, Liquidation, Signal, Trade


class DetectorSet:
    """Every enabled detector, built from `DetectorsConfig`.

    Contract: `on_event` is synchronous, reads no clock, never raises on bad event values (each detector
    checks values before its indicators see them and counts what it drops in
    `cryptoradar_detector_inputs_dropped_total`), and counts every returned signal in
    `cryptoradar_signals_total`. Call `flush()` at the end of a
    replay to release momentum candidates still waiting for their group.
    """

    __slots__ = ("_counters", "confluence", "momentum", "radar")

    def __init__(self, config: DetectorsConfig) -> None:
        self.radar = FuturesRadar(config.radar) if config.radar.enabled else None
        self.confluence = ConfluenceDetector(config.confluence) if config.confluence.enabled else None
        self.momentum = MomentumDetector(config.momentum) if config.momentum.enabled else None
        self._counters: dict[tuple[str, str], Counter] = {}

    def on_event(self, event: Event) -> list[Signal]:
        if type(event) is Bar:
            # The bar route written out here: it is the hot path of every backtest and bar feed.
            out = self.momentum.on_bar(event) if self.momentum is not None else []
            if self.confluence is not None and event.closed:
                found = self.confluence.on_bar(event)
                if found:
                    out = out + found
        else:
            out = self.momentum.on_time(event.ts_event_ns) if self.momentum is not None else []
            radar = self.radar
            if radar is not None:
                if type(event) is Trade:
                    out = out + radar.on_trade(event)
                elif type(event) is Liquidation:
                    out = out + radar.on_liquidation(event)
        if out:
            self._count(out)
        return out

    def flush(self, up_to_ms: float = math.inf) -> list[Signal]:
        """Release held momentum candidates whose bar closed at or before `up_to_ms`."""
        out = self.momentum.flush(up_to_ms) if self.momentum is not None else []
        if out:
            self._count(out)
        return out

    def next_release_ms(self) -> int | None:
        """Exchange time (ms) when held momentum candidates are due; None: nothing held."""
        return self.momentum.next_release_ms() if self.momentum is not None else None

    def release(self, exchange_now_ms: int) -> list[Signal]:
        """The exchange clock reached `exchange_now_ms` (the app's timer): release what is due by then."""
        out = self.momentum.release(exchange_now_ms) if self.momentum is not None else []
        if out:
            self._count(out)
        return out

    # -- bookkeeping ------------------------------------------------------------------------------

    def _count(self, signals: list[Signal]) -> None:
        counters = self._counters
        for s in signals:
            key = (s.detector, s.kind)
            counter = counters.get(key)
            if counter is None:
                counter = counters[key] = SIGNALS.labels(s.detector, s.kind)
            counter.inc()
