"""Binance payload shapes, built from model state. Field names are the exchange's own (see the fact sheet)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import msgspec

from cryptoradar.events import Market
from cryptoradar.sim.model import KlineRow

_encoder = msgspec.json.Encoder()
Payload = dict[str, Any]


def encode(payload: object) -> str:
    return _encoder.encode(payload).decode()


def kline_event(
    market: Market,
    symbol: str,
    interval: str,
    interval_ms: int,
    row: KlineRow,
    first_id: int,
    final: bool,
    event_ms: int,
) -> Payload:
    open_ms, o, h, lo, c, v, q, n, tbv, tbq = row
    last_id = first_id + n - 1 if n else -1
    return {
        "e": "kline",
        "E": event_ms,
        "s": symbol,
        "k": {
            "t": open_ms,
            "T": open_ms + interval_ms - 1,
            "s": symbol,
            "i": interval,
            "f": first_id if n else -1,
            "L": last_id,
            "o": o,
            "c": c,
            "h": h,
            "l": lo,
            "v": v,
            "n": n,
            "x": final,
            "q": q,
            "V": tbv,
            "Q": tbq,
            "B": "0",
        },
    }


def rest_kline(row: KlineRow, interval_ms: int) -> list[object]:
    open_ms, o, h, lo, c, v, q, n, tbv, tbq = row
    return [open_ms, o, h, lo, c, v, open_ms + interval_ms - 1, q, n, tbv, tbq, "0"]


def continuous_kline(kline: Payload) -> Payload:
    """A USD-M kline event as `<pair>_perpetual@continuousKline_<i>` sends it: by pair, no symbol in `k`."""
    k = {key: value for key, value in kline["k"].items() if key != "s"}
    return {"e": "continuous_kline", "E": kline["E"], "ps": kline["s"], "ct": "PERPETUAL", "k": k}


def agg_trade(
    market: Market,
    symbol: str,
    agg_id: int,
    price: str,
    qty: str,
    first_id: int,
    trade_ms: int,
    buyer_maker: bool,
    event_ms: int,
) -> Payload:
    out: Payload = {"e": "aggTrade", "E": event_ms, "s": symbol, "a": agg_id, "p": price, "q": qty}
    if market is Market.USDM:
        out["nq"] = qty
    out.update({"f": first_id, "l": first_id, "T": trade_ms, "m": buyer_maker})
    if market is Market.SPOT:
        out["M"] = True
    return out


class AggTradeRow(NamedTuple):
    """One aggregate trade as kept for REST `aggTrades` (the stream's `a p q f l T m`)."""

    agg_id: int
    price: str
    qty: str
    first_id: int
    trade_ms: int
    buyer_maker: bool


def rest_agg_trade(market: Market, row: AggTradeRow) -> Payload:
    """A `GET aggTrades` row: spot adds `M`; USD-M has no `M` but `nq` (quantity without RPI-order fills)."""
    out: Payload = {"a": row.agg_id, "p": row.price, "q": row.qty}
    if market is Market.USDM:
        out["nq"] = row.qty
    out.update({"f": row.first_id, "l": row.first_id, "T": row.trade_ms, "m": row.buyer_maker})
    if market is Market.SPOT:
        out["M"] = True
    return out


def trade_event(symbol: str, row: AggTradeRow, event_ms: int) -> Payload:
    """A spot `<symbol>@trade` event for one aggregate trade taken as a single trade."""
    return {"e": "trade", "E": event_ms, "s": symbol, "t": row.agg_id, "p": row.price, "q": row.qty,
            "T": row.trade_ms, "m": row.buyer_maker, "M": True}  # fmt: skip


def rest_trade(market: Market, row: AggTradeRow) -> Payload:
    """A `GET trades` row for one aggregate trade taken as a single trade (its id is the aggregate's)."""
    price, qty = float(row.price), float(row.qty)
    out: Payload = {"id": row.agg_id, "price": row.price, "qty": row.qty, "quoteQty": f"{price * qty:.8f}",
                    "time": row.trade_ms, "isBuyerMaker": row.buyer_maker}  # fmt: skip
    if market is Market.SPOT:
        out["isBestMatch"] = True
    return out


@dataclass(frozen=True, slots=True)
class Ticker24h:
    """Rolling 24 h statistics of one symbol as wire strings; the 24hr ticker stream and REST share it."""

    symbol: str
    price_change: str
    change_pct: str
    weighted_avg: str
    prev_close: str
    last: str
    last_qty: str
    bid: str
    bid_qty: str
    ask: str
    ask_qty: str
    open: str
    high: str
    low: str
    volume: str
    quote_volume: str
    open_ms: int
    close_ms: int
    first_id: int
    last_id: int
    count: int


_TICKER_FIELDS: tuple[tuple[str, str, str, bool], ...] = (
    ("p", "priceChange", "price_change", False), ("P", "priceChangePercent", "change_pct", False),
    ("w", "weightedAvgPrice", "weighted_avg", False), ("x", "prevClosePrice", "prev_close", True),
    ("c", "lastPrice", "last", False), ("Q", "lastQty", "last_qty", False), ("b", "bidPrice", "bid", True),
    ("B", "bidQty", "bid_qty", True), ("a", "askPrice", "ask", True), ("A", "askQty", "ask_qty", True),
    ("o", "openPrice", "open", False), ("h", "highPrice", "high", False), ("l", "lowPrice", "low", False),
    ("v", "volume", "volume", False), ("q", "quoteVolume", "quote_volume", False), ("O", "openTime", "open_ms", False),
    ("C", "closeTime", "close_ms", False), ("F", "firstId", "first_id", False), ("L", "lastId", "last_id", False),
    ("n", "count", "count", False),
)  # fmt: skip
"""(stream key, REST key, `Ticker24h` attribute, spot only), in Binance's order; both payloads share it."""


def _ticker_fields(market: Market, t: Ticker24h, rest: bool) -> Payload:
    return {
        rest_key if rest else key: getattr(t, attr)
        for key, rest_key, attr, spot_only in _TICKER_FIELDS
        if market is Market.SPOT or not spot_only
    }


def ticker_event(market: Market, t: Ticker24h, event_ms: int) -> Payload:
    """`<symbol>@ticker`: USD-M leaves out `x` (previous close) and the best bid/ask (`b B a A`)."""
    return {"e": "24hrTicker", "E": event_ms, "s": t.symbol, **_ticker_fields(market, t, rest=False)}


def rest_ticker(market: Market, t: Ticker24h) -> Payload:
    """A `GET ticker/24hr` row, the same numbers spelled out (USD-M without prevClose and bid/ask)."""
    return {"symbol": t.symbol, **_ticker_fields(market, t, rest=True)}


def book_ticker(
    market: Market, symbol: str, update_id: int, bid: str, bid_qty: str, ask: str, ask_qty: str, event_ms: int
) -> Payload:
    if market is Market.SPOT:
        return {"u": update_id, "s": symbol, "b": bid, "B": bid_qty, "a": ask, "A": ask_qty}
    return {
        "e": "bookTicker",
        "u": update_id,
        "E": event_ms,
        "T": event_ms,
        "s": symbol,
        "b": bid,
        "B": bid_qty,
        "a": ask,
        "A": ask_qty,
    }


def mini_ticker(
    symbol: str, close: str, open_: str, high: str, low: str, volume: str, quote: str, event_ms: int
) -> Payload:
    return {
        "e": "24hrMiniTicker",
        "E": event_ms,
        "s": symbol,
        "c": close,
        "o": open_,
        "h": high,
        "l": low,
        "v": volume,
        "q": quote,
    }


def mark_price(
    symbol: str, mark: str, index: str, funding_rate: str, next_funding_ms: int, event_ms: int
) -> Payload:
    return {
        "e": "markPriceUpdate",
        "E": event_ms,
        "s": symbol,
        "p": mark,
        "ap": mark,
        "P": index,
        "i": index,
        "r": funding_rate,
        "T": next_funding_ms,
    }


def force_order(
    symbol: str, side: str, qty: str, price: str, avg_price: str, trade_ms: int, event_ms: int
) -> Payload:
    return {
        "e": "forceOrder",
        "E": event_ms,
        "o": {
            "s": symbol,
            "S": side,
            "o": "LIMIT",
            "f": "IOC",
            "q": qty,
            "p": price,
            "ap": avg_price,
            "X": "FILLED",
            "l": qty,
            "z": qty,
            "T": trade_ms,
        },
    }


def server_shutdown(event_ms: int) -> Payload:
    return {"e": "serverShutdown", "E": event_ms}


def control_result(request_id: object, result: object) -> str:
    return encode({"result": result, "id": request_id})


def control_error(request_id: object, code: int, msg: str) -> str:
    return encode({"error": {"code": code, "msg": msg}, "id": request_id})


def api_error(code: int, msg: str) -> bytes:
    return _encoder.encode({"code": code, "msg": msg})
