"""Stream names: parse what a client asked for and decide whether this connection's route delivers it.

Names must be lowercase on the symbol part, as on Binance; anything that does not parse is "unknown"
(ACKed, never delivers). On USD-M, book streams live on `/public` and everything else on `/market`; an
un-routed (`/ws`, `/stream`) connection gets only `/public` streams, exactly like fstream since 2026-04.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass
from enum import StrEnum

from cryptoradar.events import Market
from cryptoradar.sim.options import SUPPORTED_INTERVALS_MS


class StreamKind(StrEnum):
    KLINE = "kline"
    CONTINUOUS_KLINE = "continuousKline"
    """USD-M `<pair>_perpetual@continuousKline_<i>`: the perpetual's klines by pair (`ps`, `ct`)."""
    AGG_TRADE = "aggTrade"
    TRADE = "trade"
    """Spot only (USD-M has no raw trade stream); the simulator's trades are its aggregate trades."""
    BOOK_TICKER = "bookTicker"
    MINI_TICKER = "miniTicker"
    TICKER = "ticker"
    ALL_MINI_TICKERS = "!miniTicker@arr"
    MARK_PRICE = "markPrice"
    ALL_MARK_PRICES = "!markPrice@arr"
    FORCE_ORDER = "forceOrder"
    ALL_FORCE_ORDERS = "!forceOrder@arr"
    DEPTH = "depth"


class Route(StrEnum):
    SPOT = "spot"
    PUBLIC = "public"
    MARKET = "market"
    UNROUTED = "unrouted"
    """USD-M `/ws` or `/stream` without a route: receives `/public` streams only."""


_PUBLIC_KINDS = frozenset({StreamKind.BOOK_TICKER, StreamKind.DEPTH})
_SPOT_KINDS = frozenset(
    {
        StreamKind.KLINE,
        StreamKind.AGG_TRADE,
        StreamKind.TRADE,
        StreamKind.BOOK_TICKER,
        StreamKind.MINI_TICKER,
        StreamKind.TICKER,
        StreamKind.ALL_MINI_TICKERS,
        StreamKind.DEPTH,
    }
)
_FUTURES_ONLY = frozenset(
    {
        StreamKind.CONTINUOUS_KLINE,
        StreamKind.MARK_PRICE,
        StreamKind.ALL_MARK_PRICES,
        StreamKind.FORCE_ORDER,
        StreamKind.ALL_FORCE_ORDERS,
    }
)


@dataclass(frozen=True, slots=True)
class StreamKey:
    """A parsed stream: `symbol` is uppercase ("" for all-market streams); `interval` only for klines."""

    kind: StreamKind
    symbol: str = ""
    interval: str = ""


def parse_stream(name: str, market: Market, symbols: Container[str]) -> StreamKey | None:
    """The stream `name` denotes on `market` (whose listed symbols are `symbols`), or None if unknown there."""
    if name.startswith("!"):
        base = name.split("@")
        kind_name = "@".join(base[:2])
        suffix_ok = len(base) == 2 or (len(base) == 3 and base[2] in ("1s", "1000ms", "3000ms"))
        for kind in (StreamKind.ALL_MINI_TICKERS, StreamKind.ALL_MARK_PRICES, StreamKind.ALL_FORCE_ORDERS):
            if kind_name == kind.value and suffix_ok and _allowed(kind, market):
                return StreamKey(kind)
        return None
    sym, _, rest = name.partition("@")
    if sym.endswith("_perpetual") and rest.startswith("continuousKline_"):
        pair = sym.removesuffix("_perpetual")
        interval = rest.removeprefix("continuousKline_")
        if (
            market is Market.USDM
            and pair == pair.lower()
            and pair.upper() in symbols
            and interval in SUPPORTED_INTERVALS_MS
        ):
            return StreamKey(StreamKind.CONTINUOUS_KLINE, pair.upper(), interval)
        return None
    if not sym or sym != sym.lower() or sym.upper() not in symbols:
        return None
    key = _parse_channel(rest, sym.upper())
    return key if key is not None and _allowed(key.kind, market) else None


def _parse_channel(rest: str, symbol: str) -> StreamKey | None:
    if rest.startswith("kline_"):
        interval = rest.removeprefix("kline_")
        return StreamKey(StreamKind.KLINE, symbol, interval) if interval in SUPPORTED_INTERVALS_MS else None
    if rest.startswith("depth"):
        return StreamKey(StreamKind.DEPTH, symbol)
    channel = {"markPrice@1s": "markPrice"}.get(rest, rest)
    for kind in (
        StreamKind.AGG_TRADE,
        StreamKind.TRADE,
        StreamKind.BOOK_TICKER,
        StreamKind.MINI_TICKER,
        StreamKind.TICKER,
        StreamKind.MARK_PRICE,
        StreamKind.FORCE_ORDER,
    ):
        if channel == kind.value:
            return StreamKey(kind, symbol)
    return None


def _allowed(kind: StreamKind, market: Market) -> bool:
    return kind in _SPOT_KINDS if market is Market.SPOT else kind is not StreamKind.TRADE


def delivers(route: Route, key: StreamKey) -> bool:
    """Whether a connection on `route` receives `key` (False means a silent, ACKed misroute)."""
    if route is Route.SPOT:
        return key.kind not in _FUTURES_ONLY
    if route is Route.MARKET:
        return key.kind not in _PUBLIC_KINDS
    return key.kind in _PUBLIC_KINDS
