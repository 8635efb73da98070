"""A socket-free run of the exchange simulator: its labelled scenarios as parsed events, in event-time order.

`ScenarioFeed` drives the simulator's market models and its `ScenarioSchedule` bar by bar (exactly the
hooks the live server calls), formats what a subscribed client would receive as Binance combined-stream
frames (`sim.wire`) and parses them with the live `FrameParser`, so the detectors see the same `Bar`,
`Trade` and `Liquidation` events as in production. Only the streams the detectors need are produced:

- spot, every TRADING USDT pair: closed 15m and 1h klines (momentum and its trend), aggregated from 1m;
- spot BTCUSDT: closed 1m and 5m klines (confluence);
- USD-M, every crypto perpetual (what the app watches): the tape (`forceOrder` liquidations, at most one per symbol per second as on
  Binance, and the large `aggTrade`s of scenarios and background).

Time line: spot bars start `warmup_hours` before `start_ms` (midnight UTC, seeded date) so every indicator
(EMA(50) of 1h needs 50 h) is ready when scenarios begin; the futures model starts 2 h before (the tape has
no indicators to warm up). Scenarios start in [start_ms, scenarios_end_ms), `days` long; the run goes on
for `TAIL_MS` more so every scenario finishes and gets its label, and `end_ms` is the end of that tail.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass

import msgspec
import numpy as np

from cryptoradar.events import Event, Market, Side
from cryptoradar.sim import wire
from cryptoradar.sim.model import BAR_MS, F64, SUBSTEP_MS, C, H, L, MarketModel, N, O, V
from cryptoradar.sim.scenarios import Label, TapeEvent, TapeKind
from cryptoradar.sim.schedule import ScenarioSchedule
from cryptoradar.sim.simulator import default_start_ms
from cryptoradar.sim.universe import futures_universe, spot_universe
from cryptoradar.sources.binance.parse import FrameParser

_MINUTES_BY_INTERVAL = {"1m": 1, "5m": 5, "15m": 15, "1h": 60}
UNIVERSE_INTERVALS = ("15m", "1h")
CONFLUENCE_SYMBOL = "BTCUSDT"
CONFLUENCE_INTERVALS = ("1m", "5m")
TAIL_MS = 3_600_000
_FUTURES_WARMUP_MS = 2 * 3_600_000
_RECV_LATENCY_NS = 3_000_000
"""Receive time = event time + 3 ms (the detectors read event time only)."""


@dataclass(frozen=True, slots=True)
class FeedOptions:
    """One seeded run: `symbols` spot USDT pairs, `futures_symbols` perpetuals, `days` evaluated."""

    seed: int
    symbols: int = 300
    days: float = 1.0
    futures_symbols: int = 50
    warmup_hours: int = 52
    scenario_every_bars: int = 15

    def __post_init__(self) -> None:
        if self.symbols < 1 or self.futures_symbols < 1 or self.days <= 0 or self.warmup_hours < 0:
            raise ValueError("symbols, futures_symbols and days must be positive, warmup_hours >= 0")


class ScenarioFeed:
    """Events of one seeded simulator run; `labels` fills up as `events()` is consumed."""

    def __init__(self, opts: FeedOptions) -> None:
        self.opts = opts
        self.start_ms = default_start_ms(opts.seed)
        self.scenarios_end_ms = self.start_ms + round(opts.days * 86_400_000) // BAR_MS * BAR_MS
        self.end_ms = self.scenarios_end_ms + TAIL_MS
        first_open_ms = self.start_ms - opts.warmup_hours * 3_600_000
        self.spot = MarketModel(spot_universe(opts.seed, opts.symbols), opts.seed, 1, first_open_ms)
        futures_specs = futures_universe(opts.seed, opts.futures_symbols, self.start_ms)
        self.futures = MarketModel(futures_specs, opts.seed, 2, self.start_ms - _FUTURES_WARMUP_MS)
        self._schedule = ScenarioSchedule(opts.seed, opts.scenario_every_bars, True, self.start_ms, self.spot,
                                          self.futures, self.scenarios_end_ms)  # fmt: skip
        self.labels: list[Label] = []
        self._spot_parser = FrameParser(Market.SPOT)
        self._futures_parser = FrameParser(Market.USDM)
        self._encoder = msgspec.json.Encoder()
        self._universe = np.array(
            [j for j, s in enumerate(self.spot.specs) if s.trading and s.quote == "USDT"], dtype=np.int64
        )
        self._btc = np.array([self.spot.index[CONFLUENCE_SYMBOL]], dtype=np.int64)
        self._qty_scale = np.power(10.0, [s.qty_decimals for s in self.spot.specs])
        # The live app watches crypto perpetuals only (sources.binance.universe.select_futures).
        self._watched_futures = frozenset(
            j
            for j, s in enumerate(self.futures.specs)
            if s.trading
            and s.contract_type == "PERPETUAL"
            and "_" not in s.name
            and s.underlying_type == "COIN"
        )
        self._tape: list[TapeEvent] = []
        self._last_liquidation_s: dict[int, int] = {}
        self._agg_id = 10**8

    def events(self) -> Iterator[Event]:
        """Every event up to `end_ms`, in event-time order (bars at their close, tape inside the minute)."""
        spot, futures, schedule = self.spot, self.futures, self._schedule
        while spot.current_open_ms < self.end_ms:
            open_ms = spot.current_open_ms
            close_ms = open_ms + BAR_MS
            while self._tape and self._tape[0].at_ms < close_ms:
                yield from self._tape_event(heapq.heappop(self._tape), open_ms)
            overrides, _ = schedule.spot_bar(close_ms)
            spot.close_bar(overrides)
            if futures.current_open_ms == open_ms:
                overrides, tape = schedule.futures_bar(close_ms)
                futures.close_bar(overrides)
                for event in tape:
                    heapq.heappush(self._tape, event)
            self.labels += schedule.completed(close_ms)
            yield from self._closed_bars(close_ms)

    # -- klines ------------------------------------------------------------------------------------

    def _closed_bars(self, close_ms: int) -> Iterator[Event]:
        minute = close_ms // BAR_MS
        for interval, minutes in _MINUTES_BY_INTERVAL.items():
            if minute % minutes or self.spot.closed_count < minutes:
                continue
            columns = self._universe if interval in UNIVERSE_INTERVALS else self._btc
            yield from self._klines(interval, minutes, columns, close_ms)

    def _klines(self, interval: str, minutes: int, columns: np.ndarray, close_ms: int) -> Iterator[Event]:
        model = self.spot
        rows = model.closed_rows()[-minutes:][:, columns, :]
        bars = _aggregate(rows, self._qty_scale[columns])
        open_ms = close_ms - minutes * BAR_MS
        interval_ms = minutes * BAR_MS
        ts_recv_ns = close_ms * 1_000_000 + _RECV_LATENCY_NS
        for k, j in enumerate(columns.tolist()):
            row = bars[k]
            name = model.specs[j].name
            first_id = int(model.first_trade_id[j] - row[N])
            payload = wire.kline_event(Market.SPOT, name, interval, interval_ms, model.format_row(j, open_ms, row),
                                       first_id, True, close_ms)  # fmt: skip
            yield from self._parse(self._spot_parser, f"{name.lower()}@kline_{interval}", payload, ts_recv_ns)

    # -- futures tape ---------------------------------------------------------------------------------

    def _tape_event(self, event: TapeEvent, open_ms: int) -> Iterator[Event]:
        model, j = self.futures, event.j
        if j not in self._watched_futures:
            return
        step = (event.at_ms - open_ms) // SUBSTEP_MS
        price = float(model.current[step - 1, j, C] if step > 0 else model.current[0, j, O])
        spec = model.specs[j]
        qty = max(event.notional_usd / price, 10.0**-spec.qty_decimals)
        ts_recv_ns = event.at_ms * 1_000_000 + _RECV_LATENCY_NS
        if event.kind is TapeKind.LIQUIDATION:
            second = event.at_ms // 1000
            if self._last_liquidation_s.get(j) == second:
                return  # Binance pushes at most one liquidation per symbol per second
            self._last_liquidation_s[j] = second
            bankrupt = price * (0.996 if event.side is Side.SELL else 1.004)
            payload = wire.force_order(spec.name, event.side.value, model.fmt_qty(j, qty),
                                       model.fmt_price(j, bankrupt), model.fmt_price(j, price), event.at_ms,
                                       event.at_ms)  # fmt: skip
            yield from self._parse(
                self._futures_parser, f"{spec.name.lower()}@forceOrder", payload, ts_recv_ns
            )
            return
        self._agg_id += 1
        payload = wire.agg_trade(Market.USDM, spec.name, self._agg_id, model.fmt_price(j, price), model.fmt_qty(j, qty),
                                 int(model.first_trade_id[j]), event.at_ms, event.side is Side.SELL, event.at_ms)  # fmt: skip
        yield from self._parse(self._futures_parser, f"{spec.name.lower()}@aggTrade", payload, ts_recv_ns)

    def _parse(self, parser: FrameParser, stream: str, payload: wire.Payload, ts_recv_ns: int) -> list[Event]:
        return parser.parse(self._encoder.encode({"stream": stream, "data": payload}), ts_recv_ns).events


def _aggregate(rows: F64, qty_scale: F64) -> F64:
    """One bar per column from `rows` (minutes, symbols, fields): first open, extremes, last close, sums."""
    if len(rows) == 1:
        single: F64 = rows[0]
        return single
    out = np.empty(rows.shape[1:])
    out[:, O] = rows[0, :, O]
    out[:, H] = rows[:, :, H].max(axis=0)
    out[:, L] = rows[:, :, L].min(axis=0)
    out[:, C] = rows[-1, :, C]
    sums = rows[:, :, V:].sum(axis=0)  # v, q, n, taker v, taker q: round like the model does
    scale = np.stack([qty_scale, np.full_like(qty_scale, 1e8), np.ones_like(qty_scale), qty_scale,
                      np.full_like(qty_scale, 1e8)], axis=1)  # fmt: skip
    out[:, V:] = np.round(sums * scale) / scale
    return out
