"""Event builders for detector tests: exact, search-free constructions of trades, liquidations and bars."""

from __future__ import annotations

from cryptoradar.events import Bar, Liquidation, Market, Side, Trade

NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000
T0_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
INTERVAL_MS = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "1h": 3_600_000}


def trade(
    symbol: str,
    ts_ns: int,
    notional_usd: float,
    *,
    buy: bool = True,
    price: float = 100.0,
    market: Market = Market.USDM,
) -> Trade:
    return Trade(
        market=market,
        symbol=symbol,
        agg_id=ts_ns,
        price=price,
        quantity=notional_usd / price,
        buyer_is_maker=not buy,
        ts_event_ns=ts_ns,
        ts_recv_ns=ts_ns,
    )


def liquidation(
    symbol: str, ts_ns: int, notional_usd: float, *, side: Side = Side.SELL, price: float = 100.0
) -> Liquidation:
    """SELL liquidates a long (bearish push), BUY liquidates a short (bullish push)."""
    qty = notional_usd / price
    return Liquidation(
        market=Market.USDM,
        symbol=symbol,
        side=side,
        price=price,
        avg_price=price,
        quantity=qty,
        filled_quantity=qty,
        status="FILLED",
        ts_event_ns=ts_ns,
        ts_recv_ns=ts_ns,
    )


def bar(
    symbol: str,
    interval: str,
    index: int,
    close: float,
    *,
    open_: float | None = None,
    high: float | None = None,
    low: float | None = None,
    volume: float = 100.0,
    quote_volume: float | None = None,
    market: Market = Market.SPOT,
    start_ms: int = T0_MS,
    closed: bool = True,
) -> Bar:
    """The closed bar number `index` of `interval` after `start_ms`; high/low default to open/close."""
    step = INTERVAL_MS[interval]
    open_ms = start_ms + index * step
    o = close if open_ is None else open_
    hi = max(o, close) if high is None else high
    lo = min(o, close) if low is None else low
    close_ms = open_ms + step - 1
    return Bar(
        market=market,
        symbol=symbol,
        interval=interval,
        open_time_ms=open_ms,
        close_time_ms=close_ms,
        open=o,
        high=hi,
        low=lo,
        close=close,
        volume=volume,
        quote_volume=volume * close if quote_volume is None else quote_volume,
        trades=10,
        taker_buy_volume=volume / 2,
        taker_buy_quote_volume=volume * close / 2,
        closed=closed,
        ts_event_ns=(close_ms + 1) * NS_PER_MS,
        ts_recv_ns=(close_ms + 1) * NS_PER_MS,
    )


def confluence_bars(
    symbol: str = "BTCUSDT",
    interval: str = "1m",
    *,
    bullish: bool = True,
    flat_bars: int = 100,
    final_move: float = 0.75,
    final_volume: float = 200.0,
    first_bar_high: float | None = None,
    prefix_bars: int = 0,
    prefix_close: float = 100.0,
) -> list[Bar]:
    """A confluence set-up built in closed form, without searching.

    `flat_bars` bars at exactly 100 (so every EMA, the VWAP and the volume SMA are exactly 100/100, and
    the RSI has no history), one counter-move bar to 99 (101 when bearish) that puts EMA(9) below EMA(21),
    then the trigger bar at 100 + final_move (100 - final_move). With final_move 0.75 the EMA(9) ends
    0.0044 above EMA(21) (the cross needs final_move > 0.71) and RSI(6) = 1.75 / (1.75 + 5/6) * 100 = 67.74
    (bearish: 32.26); final_move 1.0 gives RSI 70.59, outside the band.
    `first_bar_high` puts a heavy bar (volume 10,000) with that high first, lifting the session VWAP above
    the trigger close. `prefix_bars` bars at `prefix_close` before everything, in the previous UTC day
    (so the VWAP ignores them), leave EMA(50) above the trigger while EMA(9)/EMA(21) have forgotten them.
    """
    step = INTERVAL_MS[interval]
    start = T0_MS - prefix_bars * step
    sign = 1.0 if bullish else -1.0
    out: list[Bar] = []
    i = 0
    for _ in range(prefix_bars):
        out.append(
            bar(
                symbol,
                interval,
                i,
                prefix_close,
                high=prefix_close + 0.5,
                low=prefix_close - 0.5,
                start_ms=start,
            )
        )
        i += 1
    for k in range(flat_bars):
        heavy = k == 0 and first_bar_high is not None
        out.append(
            bar(
                symbol,
                interval,
                i,
                100.0,
                high=first_bar_high if heavy and first_bar_high is not None else 100.5,
                low=99.5,
                volume=10_000.0 if heavy else 100.0,
                start_ms=start,
            )
        )
        i += 1
    out.append(bar(symbol, interval, i, 100.0 - sign, open_=100.0, start_ms=start))
    out.append(
        bar(
            symbol,
            interval,
            i + 1,
            100.0 + sign * final_move,
            open_=100.0 - sign,
            volume=final_volume,
            start_ms=start,
        )
    )
    return out


MOMENTUM_WARMUP_BARS = 59
"""15m warm-up bars; the trigger bar (index 59) closes at T0 + 15 h, together with 1h bar index 64."""
HOUR_START_MS = T0_MS - 50 * INTERVAL_MS["1h"]


def momentum_bars(
    symbol: str = "AAAUSDT",
    *,
    final_close: float = 105.0,
    final_volume: float = 1300.0,
    base_volume: float = 1000.0,
    hourly_final_close: float | None = None,
    hourly: bool = True,
    early_close: float = 100.0,
) -> list[Bar]:
    """A momentum set-up in closed form, in feed order.

    64 flat 1h bars at 100 (EMA(50) on 1h is exactly 100), 59 flat 15m bars at 100 with a 1.0 range
    (ATR(14) is exactly 1.0) and volumes alternating base_volume x 0.9 / x 1.1 (the previous 20 have mean
    base_volume and population std base_volume / 10), then the 1h bar closing at `hourly_final_close`
    (default: `final_close`) and the 15m trigger bar closing at `final_close` with `final_volume`.
    With the defaults: move 5 %, volume z-score 3.0, 8-bar quote volume ~ 8 x 100,000.
    `early_close` replaces the close of 15m bars 0..40, which only the 15m EMA(50) still remembers.
    """
    out: list[Bar] = []
    if hourly:
        out += [bar(symbol, "1h", i, 100.0, start_ms=HOUR_START_MS) for i in range(64)]
    for i in range(MOMENTUM_WARMUP_BARS):
        vol = base_volume * (0.9 if i % 2 == 0 else 1.1)
        c = early_close if i <= 40 else 100.0
        out.append(bar(symbol, "15m", i, c, high=c + 0.5, low=c - 0.5, volume=vol))
    if hourly:
        htf = final_close if hourly_final_close is None else hourly_final_close
        out.append(bar(symbol, "1h", 64, htf, open_=100.0, start_ms=HOUR_START_MS))
    out.append(bar(symbol, "15m", MOMENTUM_WARMUP_BARS, final_close, open_=100.0, volume=final_volume))
    return out
