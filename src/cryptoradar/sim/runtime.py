"""One market's live state: moves its model with the exchange clock and publishes what is due.

`advance(now_ms)` moves the market: it reveals due sub-steps of the open 1m bar, pushes every subscribed
kline at Binance's cadence (the open bar every `KLINE_PUSH_MS` of exchange time, the final one at the close),
closes bars, publishes due futures tape events (forceOrder, whale
aggTrades) and, for streams someone is subscribed to, periodic tickers/mark prices and lazily made
aggTrades/bookTickers (at most one per symbol per tick). Nothing is formatted for a stream nobody wants.
`list_next` / `delist_symbol` change the universe; `track_trades` makes trades for REST without a stream.

Only TRADING symbols publish: a halted or delisted symbol's streams go silent (still subscribed). A symbol
listed while running publishes from its first full bar on. Every aggTrade made (published or not) is
kept, the newest `AGG_TRADES_KEPT` per symbol, for REST `aggTrades`.
"""

from __future__ import annotations

import heapq
import random
import time
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from cryptoradar.events import Market, Side
from cryptoradar.sim import wire
from cryptoradar.sim.model import (
    BAR_MS,
    F64,
    SUBSTEP_MS,
    SUBSTEPS,
    BarOverride,
    C,
    H,
    KlineRow,
    L,
    MarketModel,
    N,
    O,
    Q,
    V,
)
from cryptoradar.sim.options import SUPPORTED_INTERVALS_MS
from cryptoradar.sim.scenarios import TapeEvent, TapeKind
from cryptoradar.sim.streams import StreamKind
from cryptoradar.sim.universe import UNLISTED
from cryptoradar.sim.ws import WsHub

_PERIODIC_MIN_WALL_S = 0.25
_FUNDING_MS = 8 * 3_600_000
_DAY_BARS = 1440
_DAY_MS = 86_400_000
_FUTURES_TICKER_EVERY_S = 2
KLINE_PUSH_MS = 2_000
"""Binance pushes an open kline every 2 s (1 s for `1s`, an interval the simulator does not serve). Under
acceleration the pushes are also at least `_PERIODIC_MIN_WALL_S` of wall time apart, as the tickers are."""
AGG_TRADES_KEPT = 1_000
"""One full REST page (limit <= 1000) per symbol; bounded because 300 subscribed streams make ~3,000 trades/s."""

BarHook = Callable[[int], tuple[dict[int, BarOverride], list[TapeEvent]]]
"""Called with the open time of each new bar: scenario overrides and tape events for it."""


class MarketRuntime:
    def __init__(self, market: Market, model: MarketModel, hub: WsHub, bar_hook: BarHook, seed: int,
                 listed: dict[str, int]) -> None:  # fmt: skip
        """`listed` maps every symbol the exchange shows to its index; the hub reads the same dict."""
        self.market = market
        self.model = model
        self.hub = hub
        self.listed = listed
        self.held_back = [j for j, spec in enumerate(model.specs) if not spec.listed]
        """Symbols waiting for `list_next()`, in listing order."""
        self.live_from_ms: dict[int, int] = {}
        """Symbols listed while running: open time of their first full (traded) bar."""
        self.halted_from_ms: dict[int, int] = {}
        """Symbols halted while running: open time of the first bar they no longer have."""
        self.agg_trades: dict[int, deque[wire.AggTradeRow]] = {}
        self._tracked: set[int] = set()
        self._bar_hook = bar_hook
        self._rng = random.Random(seed)
        self._tape: list[TapeEvent] = []
        self._last_liq_second: dict[int, int] = {}
        self._agg_id = [self._rng.randrange(10**8, 10**9) for _ in model.specs]
        self._book_id = [self._rng.randrange(10**9, 10**10) for _ in model.specs]
        self._last_second = -1
        self._last_periodic_wall = 0.0
        self._last_kline_push_ms = 0
        self._last_kline_push_wall = 0.0
        self._pushed_closes: F64 | None = None
        self._ticker_cache: tuple[tuple[int, int], dict[str, F64]] | None = None

    # -- the clock ---------------------------------------------------------------------------------------

    def advance(self, now_ms: int) -> None:
        model = self.model
        while True:
            due = min(SUBSTEPS, (now_ms - model.current_open_ms) // SUBSTEP_MS)
            if due > model.revealed:
                model.revealed = due
                if due == SUBSTEPS:
                    self._publish_klines(now_ms, final=True)
            if model.revealed < SUBSTEPS:
                break
            overrides, tape = self._bar_hook(model.current_open_ms + BAR_MS)
            model.close_bar(overrides)
            for event in tape:
                heapq.heappush(self._tape, event)
        wall = time.monotonic()
        if (
            now_ms - self._last_kline_push_ms >= KLINE_PUSH_MS
            and wall - self._last_kline_push_wall >= _PERIODIC_MIN_WALL_S
        ):
            self._last_kline_push_ms, self._last_kline_push_wall = now_ms, wall
            self._publish_klines(now_ms, final=False)
        self._publish_tape(now_ms)
        self._publish_periodic(now_ms)
        self._publish_lazy(now_ms)

    # -- listing ----------------------------------------------------------------------------------------

    def publishes(self, j: int) -> bool:
        """Whether symbol `j` sends anything: TRADING, and past the start of its first bar if newly listed."""
        return self.model.specs[j].trading and self.model.current_open_ms >= self.live_from_ms.get(j, 0)

    def list_next(self) -> str:
        """Makes the next held-back symbol TRADING now; it trades from the next bar (its first full bar) on.
        Returns its name; the caller checks `held_back` is not empty."""
        j = self.held_back.pop(0)
        spec = self.model.specs[j]
        if self.market is Market.USDM:
            spec = replace(spec, contract_type="PERPETUAL", underlying_type="COIN")
        self.model.specs[j] = replace(spec, status="TRADING")
        self.model.set_quote_per_min(j, spec.quote_per_min)
        self.live_from_ms[j] = self.model.current_open_ms + BAR_MS
        self.listed[spec.name] = j
        return spec.name

    def delist_symbol(self, j: int, remove: bool) -> None:
        """Halts symbol `j` (BREAK on spot, SETTLING on USD-M): no more trades, its streams go silent.
        `remove` also takes it out of exchangeInfo and REST ("Invalid symbol")."""
        spec = self.model.specs[j]
        status = UNLISTED if remove else "BREAK" if self.market is Market.SPOT else "SETTLING"
        self.model.specs[j] = replace(spec, status=status)
        self.model.set_quote_per_min(j, 0.0)
        self.halted_from_ms.setdefault(j, self.model.current_open_ms + BAR_MS)
        if remove:
            self.listed.pop(spec.name, None)

    # -- klines ------------------------------------------------------------------------------------------

    def bars(self, j: int, interval: str, start_ms: int, end_ms: int, with_current: bool) -> list[KlineRow]:
        """Bars opening in [start_ms, end_ms]; for a symbol listed or halted while running, only bars that hold
        some of its trading time (the first may open before the listing, on the interval's boundary)."""
        interval_ms = SUPPORTED_INTERVALS_MS[interval]
        start_ms = max(start_ms, self.live_from_ms.get(j, 0) - interval_ms + 1)
        end_ms = min(end_ms, self.halted_from_ms.get(j, end_ms + 1) - 1)
        return [
            self.model.format_row(j, t, row)
            for t, row in self.model.symbol_bars(j, interval_ms, start_ms, end_ms, with_current)
        ]

    def _publish_klines(self, now_ms: int, final: bool) -> None:
        model = self.model
        closing_at = model.current_open_ms + BAR_MS
        trades_so_far = model.state()[:, N]
        for name, key in self.hub.wanted_keys():
            if key.kind not in (StreamKind.KLINE, StreamKind.CONTINUOUS_KLINE):
                continue
            j = model.index[key.symbol]
            if not self.publishes(j):
                continue
            interval_ms = SUPPORTED_INTERVALS_MS[key.interval]
            bucket = model.current_open_ms // interval_ms * interval_ms
            got = model.symbol_bars(j, interval_ms, bucket, bucket, with_current=True)
            if not got:
                continue
            open_ms, row = got[0]
            first_id = int(model.first_trade_id[j] + trades_so_far[j] - row[N])
            is_final = final and closing_at % interval_ms == 0
            payload = wire.kline_event(self.market, key.symbol, key.interval, interval_ms, model.format_row(j, open_ms, row),
                                       first_id, is_final, now_ms)  # fmt: skip
            if key.kind is StreamKind.CONTINUOUS_KLINE:
                payload = wire.continuous_kline(payload)
            self.hub.publish(name, payload)

    # -- futures tape --------------------------------------------------------------------------------------

    def _publish_tape(self, now_ms: int) -> None:
        while self._tape and self._tape[0].at_ms <= now_ms:
            event = heapq.heappop(self._tape)
            if not self.publishes(event.j):
                continue
            if event.kind is TapeKind.LIQUIDATION:
                self._publish_liquidation(event, now_ms)
            else:
                price = float(self.model.state()[event.j, C])
                self._publish_trade(
                    event.j, price, event.notional_usd / price, event.side, event.at_ms, now_ms
                )

    def _publish_liquidation(self, event: TapeEvent, now_ms: int) -> None:
        second = event.at_ms // 1000
        if self._last_liq_second.get(event.j) == second:
            return  # Binance pushes at most one liquidation per symbol per second
        self._last_liq_second[event.j] = second
        spec, model = self.model.specs[event.j], self.model
        close = float(model.state()[event.j, C])
        bankrupt = close * (0.996 if event.side is Side.SELL else 1.004)
        qty = max(event.notional_usd / close, 10.0**-spec.qty_decimals)
        payload = wire.force_order(spec.name, event.side.value, model.fmt_qty(event.j, qty), model.fmt_price(event.j, bankrupt),
                                   model.fmt_price(event.j, close), event.at_ms, now_ms)  # fmt: skip
        self.hub.publish(f"{spec.name.lower()}@forceOrder", payload)
        self.hub.publish("!forceOrder@arr", payload)

    def _publish_trade(
        self, j: int, price: float, qty: float, side: Side, trade_ms: int, now_ms: int
    ) -> None:
        self._agg_id[j] += 1
        step = 10.0 ** -self.model.specs[j].qty_decimals
        row = wire.AggTradeRow(self._agg_id[j], self.model.fmt_price(j, price), self.model.fmt_qty(j, max(qty, step)),
                               int(self.model.first_trade_id[j]), trade_ms, side is Side.SELL)  # fmt: skip
        kept = self.agg_trades.get(j)
        if kept is None:
            kept = self.agg_trades[j] = deque(maxlen=AGG_TRADES_KEPT)
        kept.append(row)
        symbol = self.model.specs[j].name
        name = f"{symbol.lower()}@aggTrade"
        if self.hub.wanted(name):
            payload = wire.agg_trade(self.market, symbol, row.agg_id, row.price, row.qty,
                                     row.first_id, trade_ms, row.buyer_maker, now_ms)  # fmt: skip
            self.hub.publish(name, payload)
        if self.hub.wanted(trade := f"{symbol.lower()}@trade"):
            self.hub.publish(trade, wire.trade_event(symbol, row, now_ms))

    # -- tickers and periodic streams ------------------------------------------------------------------

    def window_24h(self) -> dict[str, F64]:
        """Rolling 24 h stats for every symbol (arrays by symbol index), cached per revealed state."""
        model = self.model
        version = (model.closed_count, model.revealed)
        if self._ticker_cache is not None and self._ticker_cache[0] == version:
            return self._ticker_cache[1]
        rows = np.concatenate([model.closed_rows()[-(_DAY_BARS - 1) :], model.state()[None, :, :]])
        out = {
            "open": rows[0, :, O],
            "high": rows[:, :, H].max(axis=0),
            "low": rows[:, :, L].min(axis=0),
            "close": rows[-1, :, C],
            "volume": rows[:, :, V].sum(axis=0),
            "quote": rows[:, :, Q].sum(axis=0),
            "count": rows[:, :, N].sum(axis=0),
            "prev_close": rows[0, :, O],
        }
        self._ticker_cache = (version, out)
        return out

    def funding_rate(self, j: int, funding_ms: int) -> float:
        return 0.0001 + 0.0003 * (
            random.Random(zlib.crc32(f"{self.model.specs[j].name}:{funding_ms}".encode())).random() - 0.3
        )

    def next_funding_ms(self, now_ms: int) -> int:
        return (now_ms // _FUNDING_MS + 1) * _FUNDING_MS

    def _publish_periodic(self, now_ms: int) -> None:
        second = now_ms // 1000
        wall = time.monotonic()
        if second == self._last_second or wall - self._last_periodic_wall < _PERIODIC_MIN_WALL_S:
            return
        three_s = second // 3 != self._last_second // 3
        self._last_second, self._last_periodic_wall = second, wall
        wanted = self.hub.wanted_keys()
        if not wanted:
            return
        stats = self.window_24h()
        closes = stats["close"]
        changed = (
            closes != self._pushed_closes
            if self._pushed_closes is not None
            else np.ones(len(closes), dtype=bool)
        )
        self._pushed_closes = closes.copy()
        live = [j for j in self.listed.values() if self.publishes(j)]
        ticker_due = self.market is Market.SPOT or second % _FUTURES_TICKER_EVERY_S == 0
        for name, key in wanted:
            j = self.model.index.get(key.symbol, -1)
            if j >= 0 and not self.publishes(j):
                continue
            if key.kind is StreamKind.MINI_TICKER:
                self.hub.publish(name, self._mini(j, stats, now_ms))
            elif key.kind is StreamKind.TICKER and ticker_due:
                self.hub.publish(name, wire.ticker_event(self.market, self.ticker(j, now_ms), now_ms))
            elif key.kind is StreamKind.ALL_MINI_TICKERS:
                self.hub.publish(name, [self._mini(i, stats, now_ms) for i in live if changed[i]])
            elif key.kind is StreamKind.MARK_PRICE and (three_s or name.endswith("@1s")):
                self.hub.publish(name, self._mark(j, now_ms))
            elif key.kind is StreamKind.ALL_MARK_PRICES and (three_s or name.endswith("@1s")):
                self.hub.publish(name, [self._mark(i, now_ms) for i in live])

    def ticker(self, j: int, now_ms: int) -> wire.Ticker24h:
        """Rolling 24 h statistics of symbol `j` at `now_ms` (the ticker stream and REST ticker/24hr)."""
        m, st = self.model, self.window_24h()
        close, open_ = float(st["close"][j]), float(st["open"][j])
        volume, quote = float(st["volume"][j]), float(st["quote"][j])
        count = int(st["count"][j])
        last_id = int(m.first_trade_id[j] + m.state()[j, N]) - 1
        tick = 10.0 ** -m.specs[j].price_decimals
        return wire.Ticker24h(
            symbol=m.specs[j].name, price_change=m.fmt_price(j, close - open_),
            change_pct=f"{(close / open_ - 1) * 100:.3f}",
            weighted_avg=m.fmt_price(j, quote / volume if volume > 0 else close),
            prev_close=m.fmt_price(j, float(st["prev_close"][j])), last=m.fmt_price(j, close),
            last_qty=m.fmt_qty(j, 1.0), bid=m.fmt_price(j, close - tick), bid_qty=m.fmt_qty(j, 1.0),
            ask=m.fmt_price(j, close + tick), ask_qty=m.fmt_qty(j, 1.0), open=m.fmt_price(j, open_),
            high=m.fmt_price(j, float(st["high"][j])), low=m.fmt_price(j, float(st["low"][j])),
            volume=m.fmt_qty(j, volume), quote_volume=f"{quote:.8f}", open_ms=now_ms - _DAY_MS, close_ms=now_ms,
            first_id=last_id - count + 1 if count else -1, last_id=last_id if count else -1, count=count,
        )  # fmt: skip

    def _mini(self, j: int, stats: dict[str, F64], now_ms: int) -> wire.Payload:
        m = self.model
        return wire.mini_ticker(m.specs[j].name, m.fmt_price(j, stats["close"][j]), m.fmt_price(j, stats["open"][j]),
                                m.fmt_price(j, stats["high"][j]), m.fmt_price(j, stats["low"][j]),
                                m.fmt_qty(j, stats["volume"][j]), f"{stats['quote'][j]:.8f}", now_ms)  # fmt: skip

    def mark_info(self, j: int, now_ms: int) -> tuple[str, str, str, int]:
        """(mark price, index price, funding rate, next funding time) at `now_ms`."""
        close = float(self.model.state()[j, C])
        next_ms = self.next_funding_ms(now_ms)
        rate = self.funding_rate(j, next_ms)
        return (
            self.model.fmt_price(j, close * (1 + rate)),
            self.model.fmt_price(j, close),
            f"{rate:.8f}",
            next_ms,
        )

    def _mark(self, j: int, now_ms: int) -> wire.Payload:
        mark, index, rate, next_ms = self.mark_info(j, now_ms)
        return wire.mark_price(self.model.specs[j].name, mark, index, rate, next_ms, now_ms)

    # -- lazily made trades and book tickers ---------------------------------------------------------

    def _publish_lazy(self, now_ms: int) -> None:
        state = self.model.state()
        trading: set[int] = set()  # symbols whose trades someone streams (aggTrade or trade): one draw each
        for name, key in self.hub.wanted_keys():
            if key.kind not in (StreamKind.AGG_TRADE, StreamKind.TRADE, StreamKind.BOOK_TICKER):
                continue
            j = self.model.index[key.symbol]
            if not self.publishes(j):
                continue
            spec = self.model.specs[j]
            close = float(state[j, C])
            tick = 10.0**-spec.price_decimals
            if key.kind is StreamKind.BOOK_TICKER:
                self._book_id[j] += 1
                bid_qty, ask_qty = (
                    self.model.fmt_qty(j, spec.trade_quote * self._rng.uniform(1, 20) / close)
                    for _ in range(2)
                )
                payload = wire.book_ticker(self.market, spec.name, self._book_id[j], self.model.fmt_price(j, close - tick), bid_qty,
                                           self.model.fmt_price(j, close + tick), ask_qty, now_ms)  # fmt: skip
                self.hub.publish(name, payload)
            elif j not in trading:
                trading.add(j)
                self._maybe_trade(j, close, now_ms)
        for j in self._tracked - trading:
            if self.publishes(j):
                self._maybe_trade(j, float(state[j, C]), now_ms)

    def _maybe_trade(self, j: int, close: float, now_ms: int) -> None:
        """A small taker trade one tick through the close, half of the time."""
        if self._rng.random() >= 0.5:
            return
        spec = self.model.specs[j]
        tick = 10.0**-spec.price_decimals
        side = Side.BUY if self._rng.random() < 0.5 else Side.SELL
        price = close + tick if side is Side.BUY else close - tick
        self._publish_trade(
            j, price, spec.trade_quote * self._rng.uniform(0.2, 3.0) / close, side, now_ms, now_ms
        )

    def track_trades(self, j: int, now_ms: int) -> None:
        """Makes trades for symbol `j` from now on even with no aggTrade subscriber (REST asked for them);
        the first one at once, so the answer is never empty for a trading symbol."""
        if j in self._tracked or not self.publishes(j):
            return
        self._tracked.add(j)
        if j not in self.agg_trades:
            close = float(self.model.state()[j, C])
            self._publish_trade(j, close, self.model.specs[j].trade_quote / close, Side.BUY, now_ms, now_ms)
