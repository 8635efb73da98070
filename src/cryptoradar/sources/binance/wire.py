"""Binance wire schemas: msgspec Structs that keep the exchange's own field names.

These describe what Binance sends, nothing more; `parse.py` turns them into normalised events.
Contracts shared by every schema here:

- Decoded with `strict=False`, so decimal strings ("87412.01") become floats in C without a Python call.
- Unknown fields are ignored (msgspec's default), so fields Binance adds later never break decoding.
- Fields Binance added after 2021 (`nq`, `ap`, `st`, `ps`, trade `b`/`a`, ...) are either not declared or
  carry a default, so the 2021 recordings and today's payloads both decode. Fields the parser does not
  use are not declared (neither required nor decoded), except forceOrder `o.l`, a quantity still
  range-checked as before.
- Stream payloads are tagged by their event type `e` (`tag_field="e"`): a combined frame decodes in one
  pass into `Combined[StreamPayload]`, the tag picking the payload's type. Decoded on its own, a payload
  may lack `e` (spot bookTicker never has it), but an `e` that is present must match.
- `st` (1 = USD-M, 2 = COIN-M) defaults to 1: payloads from before the CM/UM integration are all USD-M.
- Times are integers in the unit Binance sent (ms, or µs when `timeUnit=MICROSECOND`); `parse.py`
  converts per value.
- Stream numbers are range-checked while decoding, in C: `Price` must be finite and > 0, `Amount` finite
  and >= 0 (NaN fails both). REST and archive rows are plain floats, checked by the code that reads them.
- So are event, trade and open times (`Time` > 0; `OptionalTime` >= 0 where Binance may send none). The
  parser checks symbols (a length constraint here would cost every frame; the parser's costs a set lookup).
"""

from __future__ import annotations

import sys
from typing import Annotated, Generic, TypeVar

import msgspec

from cryptoradar.events import Side

Price = Annotated[float, msgspec.Meta(gt=0.0, le=sys.float_info.max)]
"""A price that cannot be zero (trade, kline OHLC, liquidation order price, mark price)."""
Amount = Annotated[float, msgspec.Meta(ge=0.0, le=sys.float_info.max)]
"""A quantity, volume, or a price that may legitimately be zero (an empty book side, an unfilled order)."""

Time = Annotated[int, msgspec.Meta(gt=0)]
"""An event, trade or open time (ms or µs since the epoch): never zero or negative."""
OptionalTime = Annotated[int, msgspec.Meta(ge=0)]
"""A time Binance may leave out or send as 0 (bookTicker `E`/`T`, markPrice `T` of a delivery contract)."""

T = TypeVar("T")


class Combined(msgspec.Struct, Generic[T], gc=False):
    """A combined-stream frame `{"stream": ..., "data": T}` decoded in one pass."""

    stream: str
    data: T


# --- WebSocket frames --------------------------------------------------------------------------------


class FrameShape(msgspec.Struct, gc=False):
    """The top-level keys used to route a frame by shape; values stay undecoded (`Raw`).

    An empty `Raw` means the key was absent; `Raw(b"null")` means it was present and null.
    """

    stream: str | None = None
    data: msgspec.Raw = msgspec.Raw()
    e: str | None = None
    id: msgspec.Raw = msgspec.Raw()
    result: msgspec.Raw = msgspec.Raw()
    error: msgspec.Raw = msgspec.Raw()
    code: msgspec.Raw = msgspec.Raw()
    msg: msgspec.Raw = msgspec.Raw()
    u: msgspec.Raw = msgspec.Raw()
    s: msgspec.Raw = msgspec.Raw()
    b: msgspec.Raw = msgspec.Raw()
    a: msgspec.Raw = msgspec.Raw()


class ControlError(msgspec.Struct, gc=False):
    """The `error` object of a control reply, e.g. `{"code":2,"msg":"Invalid request: ..."}`."""

    code: int
    msg: str = ""


class PayloadShape(msgspec.Struct, gc=False):
    """The event type of a payload or all-market array item: enough to pick its decoder."""

    e: str = ""


class KlineData(msgspec.Struct, gc=False):
    """`k` of a kline event. `x` is true on the final push for open time `t`; `k.s` repeats the event's `s`."""

    t: Time
    T: int
    i: str
    o: Price
    c: Price
    h: Price
    l: Price  # noqa: E741 - Binance's name for the low
    v: Amount
    n: int
    x: bool
    q: Amount
    V: Amount
    Q: Amount


class KlineEvent(msgspec.Struct, gc=False, tag_field="e", tag="kline"):
    E: Time
    s: str
    k: KlineData


class AggTradeEvent(msgspec.Struct, gc=False, tag_field="e", tag="aggTrade"):
    """`m` true means the buyer was the maker, i.e. the taker sold. The event time is the trade time `T`."""

    s: str
    a: int
    p: Price
    q: Amount
    T: Time
    m: bool


class BookTickerEvent(msgspec.Struct, gc=False, tag_field="e", tag="bookTicker"):
    """Spot sends only `u s b B a A` (no times); USD-M adds `e`, `E` and `T`."""

    u: int
    s: str
    b: Amount
    B: Amount
    a: Amount
    A: Amount
    E: OptionalTime = 0
    T: OptionalTime = 0


class ForceOrderData(msgspec.Struct, gc=False):
    """`o` of a forceOrder event."""

    s: str
    S: Side
    q: Amount
    p: Price
    ap: Amount
    X: str
    z: Amount
    T: Time
    l: Amount = 0.0  # noqa: E741 - Binance's name for the last filled quantity; not used, but range-checked


class ForceOrderEvent(msgspec.Struct, gc=False, tag_field="e", tag="forceOrder"):
    E: Time
    o: ForceOrderData
    st: int = 1


class MarkPriceEvent(msgspec.Struct, gc=False, tag_field="e", tag="markPriceUpdate"):
    """`r` (funding rate) is a string because delivery contracts send `""`; `P` (also `""` there) is not used."""

    E: Time
    s: str
    p: Price
    i: Amount = 0.0
    r: str = ""
    T: OptionalTime = 0
    st: int = 1


class MiniTickerEvent(msgspec.Struct, gc=False, tag_field="e", tag="24hrMiniTicker"):
    """`24hrMiniTicker`."""

    E: Time
    s: str
    c: Amount
    o: Amount
    h: Amount
    l: Amount  # noqa: E741 - Binance's name for the low
    v: Amount
    q: Amount
    st: int = 1


class TickerEvent(MiniTickerEvent, tag="24hrTicker"):
    """`24hrTicker`: the mini ticker's fields and more (not used)."""


class DepthUpdate(msgspec.Struct, gc=False, tag_field="e", tag="depthUpdate"):
    """A diff depth event: recognised, not decoded (the radar does not keep order books)."""


class ServerShutdown(msgspec.Struct, gc=False, tag_field="e", tag="serverShutdown"):
    """Binance will close this connection soon; the pool replaces it first."""


StreamPayload = (
    KlineEvent
    | AggTradeEvent
    | BookTickerEvent
    | ForceOrderEvent
    | MarkPriceEvent
    | MiniTickerEvent
    | TickerEvent
    | DepthUpdate
    | ServerShutdown
    | list[msgspec.Raw]
)
"""What `data` of a combined frame can be: an event picked by its `e`, or an all-market array (items raw)."""


# --- REST ----------------------------------------------------------------------------------------


class KlineRow(msgspec.Struct, array_like=True, gc=False):
    """One `/api/v3/klines` (or `/fapi/v1/klines`, or archive CSV) row; the trailing "ignore" is dropped."""

    open_time: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    close_time: int
    quote_volume: float
    count: int
    taker_buy_volume: float
    taker_buy_quote_volume: float


class Ticker24h(msgspec.Struct, gc=False, rename="camel"):
    """`GET /api/v3/ticker/24hr` or `/fapi/v1/ticker/24hr` element (FULL or MINI type)."""

    symbol: str
    last_price: float
    open_price: float
    high_price: float
    low_price: float
    volume: float
    quote_volume: float
    open_time: int
    close_time: int
    price_change_percent: float = 0.0
    count: int = 0


class SymbolInfo(msgspec.Struct, gc=False, rename="camel"):
    """An exchangeInfo symbol; futures-only fields default to "" on spot. Filters are not decoded."""

    symbol: str
    status: str
    base_asset: str
    quote_asset: str
    contract_type: str = ""
    underlying_type: str = ""


class ExchangeInfo(msgspec.Struct, gc=False, rename="camel"):
    symbols: list[SymbolInfo]
    server_time: int = 0


class PremiumIndex(msgspec.Struct, gc=False, rename="camel"):
    """`GET /fapi/v1/premiumIndex`. Funding fields are strings: delivery contracts send `""`."""

    symbol: str
    mark_price: float
    index_price: float
    time: int
    estimated_settle_price: str = ""
    last_funding_rate: str = ""
    interest_rate: str = ""
    next_funding_time: int = 0


class FundingRate(msgspec.Struct, gc=False, rename="camel"):
    """`GET /fapi/v1/fundingRate` row. `markPrice` is `""` on old records, so it stays a string."""

    symbol: str
    funding_rate: float
    funding_time: int
    mark_price: str = ""
