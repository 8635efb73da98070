"""Trades -> bars: the pure aggregation Binance applies to build klines from aggregate trades."""

from __future__ import annotations

from collections.abc import Iterable

from cryptoradar.events import Bar, Market, Trade


def bars_from_trades(
    trades: Iterable[Trade], market: Market, symbol: str, interval: str, interval_ms: int
) -> list[Bar]:
    """One closed bar per `interval_ms` bucket (aligned to the epoch) that holds at least one trade.

    Trades must be in time order. Buckets without trades are not emitted (Binance fills them with a flat
    bar at the previous close; callers that need that can do it). `trades` counts aggregate trades, not the
    raw fills a kline's `n` counts. `ts_event_ns` is the bucket's end; `ts_recv_ns` the last trade's.
    """
    bars: list[Bar] = []
    bucket_ms = -1
    o = h = lo = c = volume = quote_volume = taker_buy = taker_buy_quote = 0.0
    count = 0
    ts_recv_ns = 0

    def flush() -> None:
        close_ms = bucket_ms + interval_ms - 1
        bars.append(
            Bar(
                market, symbol, interval, bucket_ms, close_ms,
                o, h, lo, c, volume, quote_volume, count, taker_buy, taker_buy_quote,
                True, (close_ms + 1) * 1_000_000, ts_recv_ns,
            )
        )  # fmt: skip

    for t in trades:
        ts_ms = t.ts_event_ns // 1_000_000
        start_ms = ts_ms - ts_ms % interval_ms
        if start_ms != bucket_ms:
            if count:
                flush()
            bucket_ms = start_ms
            o = h = lo = t.price
            volume = quote_volume = taker_buy = taker_buy_quote = 0.0
            count = 0
        h = max(h, t.price)
        lo = min(lo, t.price)
        c = t.price
        notional = t.price * t.quantity
        volume += t.quantity
        quote_volume += notional
        if not t.buyer_is_maker:
            taker_buy += t.quantity
            taker_buy_quote += notional
        count += 1
        ts_recv_ns = t.ts_recv_ns
    if count:
        flush()
    return bars
