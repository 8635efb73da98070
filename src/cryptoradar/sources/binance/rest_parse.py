"""REST bodies (klines, 24h tickers, exchangeInfo, premiumIndex, fundingRate) -> wire types and events.

Whole-body failures raise `WireFormatError` (the REST client decides whether to retry); single bad rows are
dropped and counted in `PARSE_ERRORS`, like bad frames.
"""

from __future__ import annotations

from typing import TypeVar

import msgspec

from cryptoradar.core.metrics import PARSE_ERRORS
from cryptoradar.events import Bar, Market, Ticker
from cryptoradar.sources.binance import wire
from cryptoradar.sources.binance.checks import (
    INF,
    WireFormatError,
    ms_from_venue,
    ns_from_venue,
    number_kind,
    validation_kind,
)

__all__ = [
    "bars_from_rows",
    "decode_exchange_info",
    "decode_funding_rates",
    "decode_premium_index",
    "parse_rest_klines",
    "parse_rest_tickers_24h",
]

_KLINE_ROWS = msgspec.json.Decoder(list[wire.KlineRow], strict=False)
_TICKER_24H = msgspec.json.Decoder(wire.Ticker24h | list[wire.Ticker24h], strict=False)
_EXCHANGE_INFO = msgspec.json.Decoder(wire.ExchangeInfo, strict=False)
_PREMIUM_INDEX = msgspec.json.Decoder(wire.PremiumIndex | list[wire.PremiumIndex], strict=False)
_FUNDING_RATES = msgspec.json.Decoder(list[wire.FundingRate], strict=False)


def parse_rest_klines(
    rows_json: bytes | str,
    market: Market,
    symbol: str,
    interval: str,
    now_ms: int,
    ts_recv_ns: int,
) -> list[Bar]:
    """Decode a `klines` REST body into bars; rows with `closeTime >= now_ms` are in progress (`closed=False`).

    `ts_event_ns` is the bar's end (close time + 1 ms) for closed rows and `now_ms` for in-progress ones:
    REST carries no event time. Rows with bad numbers are dropped and counted; a body that is not a list of
    kline rows raises `WireFormatError`.
    """
    rows = _decode_or_raise(_KLINE_ROWS, rows_json)
    return bars_from_rows(rows, market, symbol, interval, now_ms, ts_recv_ns)


def bars_from_rows(
    rows: list[wire.KlineRow],
    market: Market,
    symbol: str,
    interval: str,
    now_ms: int,
    ts_recv_ns: int,
) -> list[Bar]:
    """Kline rows (REST or archive, times in ms or µs per value) -> bars; bad rows counted and dropped."""
    bars: list[Bar] = []
    for r in rows:
        o, h, lo, c, v, q, tb, tq = (
            r.open,
            r.high,
            r.low,
            r.close,
            r.volume,
            r.quote_volume,
            r.taker_buy_volume,
            r.taker_buy_quote_volume,
        )
        if not (
            0.0 < o < INF
            and 0.0 < h < INF
            and 0.0 < lo < INF
            and 0.0 < c < INF
            and 0.0 <= v < INF
            and 0.0 <= q < INF
            and 0.0 <= tb < INF
            and 0.0 <= tq < INF
        ):
            PARSE_ERRORS.labels(market.value, number_kind(o, h, lo, c, v, q, tb, tq)).inc()
            continue
        close_ms = ms_from_venue(r.close_time)
        closed = close_ms < now_ms
        ts_event_ns = (close_ms + 1) * 1_000_000 if closed else now_ms * 1_000_000
        bars.append(
            Bar(
                market, symbol, interval, ms_from_venue(r.open_time), close_ms,
                o, h, lo, c, v, q, r.count, tb, tq, closed, ts_event_ns, ts_recv_ns,
            )
        )  # fmt: skip
    return bars


def parse_rest_tickers_24h(body: bytes | str, market: Market, ts_recv_ns: int) -> list[Ticker]:
    """A `ticker/24hr` body (one object or a list) -> tickers; `ts_event_ns` is the window's close time."""
    decoded = _decode_or_raise(_TICKER_24H, body)
    rows = decoded if isinstance(decoded, list) else [decoded]
    tickers: list[Ticker] = []
    for t in rows:
        c, o, h, lo, v, q = t.last_price, t.open_price, t.high_price, t.low_price, t.volume, t.quote_volume
        if not (
            0.0 <= c < INF
            and 0.0 <= o < INF
            and 0.0 <= h < INF
            and 0.0 <= lo < INF
            and 0.0 <= v < INF
            and 0.0 <= q < INF
        ):
            PARSE_ERRORS.labels(market.value, number_kind(c, o, h, lo, v, q)).inc()
            continue
        tickers.append(Ticker(market, t.symbol, c, o, h, lo, v, q, ns_from_venue(t.close_time), ts_recv_ns))
    return tickers


def decode_exchange_info(body: bytes | str) -> wire.ExchangeInfo:
    """Spot or USD-M exchangeInfo; raises `WireFormatError`."""
    return _decode_or_raise(_EXCHANGE_INFO, body)


def decode_premium_index(body: bytes | str) -> list[wire.PremiumIndex]:
    """`premiumIndex` with or without `symbol` (object or list); raises `WireFormatError`."""
    decoded = _decode_or_raise(_PREMIUM_INDEX, body)
    return decoded if isinstance(decoded, list) else [decoded]


def decode_funding_rates(body: bytes | str) -> list[wire.FundingRate]:
    """`fundingRate` history rows; raises `WireFormatError`."""
    return _decode_or_raise(_FUNDING_RATES, body)


_T = TypeVar("_T")


def _decode_or_raise(decoder: msgspec.json.Decoder[_T], body: bytes | str) -> _T:
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise WireFormatError(validation_kind(exc), str(exc)) from exc
    except msgspec.DecodeError as exc:
        raise WireFormatError("malformed_json", str(exc)) from exc
