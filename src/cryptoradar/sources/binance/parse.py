"""Binance frames -> normalised events, with pre-built decoders and routing by exact key.

`FrameParser.parse(raw, ts_recv_ns)` is the one entry point for WebSocket frames (live, replay, recordings).
Routing by shape:

- `stream` + `data`: a combined-stream event; dispatched on the stream name (routes cached per name), and
  the frame is decoded once, straight into the payload's exact wire type.
- `e`: a raw-stream event, dispatched on the event type.
- `id` / `result` / `error` / `code`: a control reply (`ControlReply`).
- `u s b a` without `e`: a bare spot bookTicker.
- a top-level array: an all-market array (`!miniTicker@arr`, `!markPrice@arr`, `!ticker@arr`).

Bad input never raises: the frame is dropped with `error_kind` set, `PARSE_ERRORS{market, kind}` is
incremented and one warning per kind is logged (rate-limited). Inside an all-market array a bad item is
dropped alone (counted the same way) and the rest of the array is kept. COIN-M items (`st == 2`, which USD-M
all-market streams may carry) are skipped and counted in `ITEMS_SKIPPED{market, reason="coin_m"}`. Both
show in `ParsedFrame.dropped_items`.

Number rules: every price and quantity must be finite and non-negative (NaN -> "nan", ±inf -> "inf",
< 0 -> "negative"). Prices that cannot be zero (-> "zero"): aggTrade `p`, kline `o h l c`, forceOrder `o.p`,
markPrice `p`. Zero is legitimate everywhere else: volumes and quantities (aggTrade `q`, kline `v q V Q`,
forceOrder `q l z`), an empty book side (bookTicker `b B a A`), an unfilled liquidation (`ap`), a missing
index price (`i`), ticker fields of an idle symbol. The funding rate may be negative but must be finite.

Times: ms -> ns; a value >= 1e15 is taken as µs (spot `timeUnit=MICROSECOND`). Kline open/close times are
kept in ms. Event time: kline `E`, aggTrade `T`, forceOrder `o.T`, markPrice and tickers `E`, USD-M
bookTicker `T` (else `E`), spot bookTicker the receive time.

The parser does not count `FRAMES`: whoever owns the connection counts it with `ParsedFrame.stream_type`.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from functools import partial
from typing import Any

import msgspec
import structlog
from prometheus_client import Counter

from cryptoradar.core.logging import LogOncePerKind
from cryptoradar.core.metrics import PARSE_ERRORS, REGISTRY
from cryptoradar.events import Bar, BookTicker, Event, Liquidation, Market, MarkPrice, Ticker, Trade
from cryptoradar.sources.binance import wire
from cryptoradar.sources.binance.checks import (
    INF,
    US_THRESHOLD,
    WireFormatError,
    ms_from_venue,
    ns_from_venue,
    number_kind,
    validation_kind,
)
from cryptoradar.sources.binance.rest_parse import (
    bars_from_rows,
    decode_exchange_info,
    decode_funding_rates,
    decode_premium_index,
    parse_rest_klines,
    parse_rest_tickers_24h,
)

__all__ = [
    "ITEMS_SKIPPED",
    "ControlReply",
    "FrameParser",
    "ParsedFrame",
    "StreamType",
    "WireFormatError",
    "bars_from_rows",
    "decode_exchange_info",
    "decode_funding_rates",
    "decode_premium_index",
    "parse_rest_klines",
    "parse_rest_tickers_24h",
    "stream_type_of",
]

_log = structlog.get_logger(__name__)

ITEMS_SKIPPED = Counter(
    "cryptoradar_binance_items_skipped_total",
    "Items left out of otherwise good frames, by reason (coin_m: COIN-M symbols on USD-M all-market streams)",
    ["market", "reason"],
    registry=REGISTRY,
)


class StreamType(StrEnum):
    """Known stream types. `ParsedFrame.stream_type` is one of these, or the raw channel of an unknown stream."""

    KLINE = "kline"
    AGG_TRADE = "aggTrade"
    BOOK_TICKER = "bookTicker"
    FORCE_ORDER = "forceOrder"
    MARK_PRICE = "markPrice"
    MINI_TICKER = "miniTicker"
    TICKER = "ticker"
    DEPTH = "depth"
    SERVER_SHUTDOWN = "serverShutdown"
    CONTROL = "control"
    UNKNOWN = "unknown"


class ControlReply(msgspec.Struct, frozen=True, gc=False):
    """A reply to SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS / SET_PROPERTY / GET_PROPERTY.

    `result` is the decoded JSON `result` (None, a list of stream names, a bool). `error_code` is set for
    error replies (`{"error":{"code":..,"msg":..},"id":..}` or a top-level `code`/`msg`).
    """

    id: int | str | None
    result: object = None
    error_code: int | None = None
    error_msg: str | None = None

    @property
    def ok(self) -> bool:
        return self.error_code is None


class ParsedFrame(msgspec.Struct, gc=False):
    """What one frame produced. `error_kind` is set (and `events` empty) when the frame was dropped."""

    events: list[Event]
    control: ControlReply | None = None
    server_shutdown: bool = False
    stream: str | None = None
    stream_type: str = StreamType.UNKNOWN
    error_kind: str | None = None
    dropped_items: int = 0


class _Drop(Exception):
    """Internal: a decoded frame failed validation."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def stream_type_of(stream: str) -> tuple[str, bool]:
    """(stream type, is an all-market array) for a combined-stream name.

    `btcusdt@kline_1m` -> ("kline", False); `btcusdt@depth@100ms` -> ("depth", False);
    `!markPrice@arr@1s` -> ("markPrice", True); `!forceOrder@arr` -> ("forceOrder", False): Binance sends
    one object per event on it despite the name; `!serverShutdown` -> ("serverShutdown", False).
    """
    name, _, rest = stream.partition("@")
    parts = rest.split("@") if rest else []
    # all-market streams are "!<channel>[@arr][@1s]", per-symbol ones "<symbol>@<channel>[@<option>]"
    channel = name[1:] if name.startswith("!") else (parts.pop(0) if parts else "")
    if channel.startswith("kline_"):
        channel = StreamType.KLINE
    elif channel.startswith("depth"):
        channel = StreamType.DEPTH
    is_array = "arr" in parts and channel != StreamType.FORCE_ORDER
    return channel, is_array


# --- pre-built decoders ----------------------------------------------------------------------------

_SHAPE = msgspec.json.Decoder(wire.FrameShape)
_ARRAY_SHAPE = msgspec.json.Decoder(list[wire.ArrayItemShape], strict=False)
_RAW_LIST = msgspec.json.Decoder(list[msgspec.Raw])
_COMBINED_RAW_LIST = msgspec.json.Decoder(wire.Combined[list[msgspec.Raw]])
_CONTROL_ERROR = msgspec.json.Decoder(wire.ControlError, strict=False)
_ANY = msgspec.json.Decoder()

_PAYLOAD_TYPES: dict[str, type[msgspec.Struct]] = {
    StreamType.KLINE: wire.KlineEvent,
    StreamType.AGG_TRADE: wire.AggTradeEvent,
    StreamType.BOOK_TICKER: wire.BookTickerEvent,
    StreamType.FORCE_ORDER: wire.ForceOrderEvent,
    StreamType.MARK_PRICE: wire.MarkPriceEvent,
    StreamType.MINI_TICKER: wire.MiniTickerEvent,
    StreamType.TICKER: wire.MiniTickerEvent,
}
_ARRAY_TYPES = frozenset({StreamType.MARK_PRICE, StreamType.MINI_TICKER, StreamType.TICKER})
"""Stream types that also come as all-market arrays."""
_MAY_DROP = _ARRAY_TYPES | {StreamType.FORCE_ORDER}
"""Stream types whose payload may be dropped as COIN-M (`st == 2`)."""
_BARE: dict[str, msgspec.json.Decoder[Any]] = {
    t: msgspec.json.Decoder(cls, strict=False) for t, cls in _PAYLOAD_TYPES.items()
}
_COMBINED: dict[str, msgspec.json.Decoder[Any]] = {
    t: msgspec.json.Decoder(wire.Combined[cls], strict=False)  # type: ignore[valid-type]
    for t, cls in _PAYLOAD_TYPES.items()
}

_EVENT_TYPES: dict[str, str] = {
    "kline": StreamType.KLINE,
    "aggTrade": StreamType.AGG_TRADE,
    "bookTicker": StreamType.BOOK_TICKER,
    "forceOrder": StreamType.FORCE_ORDER,
    "markPriceUpdate": StreamType.MARK_PRICE,
    "24hrMiniTicker": StreamType.MINI_TICKER,
    "24hrTicker": StreamType.TICKER,
    "depthUpdate": StreamType.DEPTH,
    "serverShutdown": StreamType.SERVER_SHUTDOWN,
}
_ROUTE_CACHE_MAX = 65_536
"""Stream names are a finite set per deployment; the cap only guards against a hostile peer."""

_Convert = Callable[[Any, int], list[Event]]
"""Decoded `wire.Combined[payload]` (anything with the payload at `.data`) -> events."""
_Route = tuple[str, str, Callable[[bytes | str], Any] | None, _Convert | None, bool]
"""(stream name, stream type, decode a whole combined frame, convert, may drop items)."""


class FrameParser:
    """Parses Binance WebSocket frames of one market into events. Synchronous, pure apart from metrics/logs."""

    def __init__(self, market: Market, log_limiter: LogOncePerKind | None = None) -> None:
        self.market = market
        self._market_label = market.value
        self._log_limiter = log_limiter or LogOncePerKind()
        self._convert: dict[str, _Convert] = {
            StreamType.KLINE: self._bar,
            StreamType.AGG_TRADE: self._trade,
            StreamType.BOOK_TICKER: self._book_ticker,
            StreamType.FORCE_ORDER: self._liquidation,
            StreamType.MARK_PRICE: self._mark_price,
            StreamType.MINI_TICKER: self._ticker,
            StreamType.TICKER: self._ticker,
        }
        self._routes: dict[bytes | str, _Route] = {}
        self._dropped_items = 0

    # --- entry point -------------------------------------------------------------------------------

    def parse(self, raw: bytes | str, ts_recv_ns: int) -> ParsedFrame:
        """Parse one frame. Never raises on bad input; see the module docstring for the contract."""
        # Fast path: Binance writes combined frames as '{"stream":"<name>","data":...}'. The name is sliced
        # out for routing and the whole frame is decoded once, straight into the payload's wire type. A
        # cached route is looked up before checking the prefix: a frame of another shape that happens to
        # hit a route fails the typed decode (no `data`) and goes on to the general path, like any frame
        # that fails here; the general path classifies and reports failures.
        if isinstance(raw, str):
            key: bytes | str = raw[11 : raw.find('"', 11)]
        else:
            key = raw[11 : raw.find(b'"', 11)]
        route = self._routes.get(key)
        if route is None and _is_combined(raw):
            route = self._route(key)
        if route is not None:
            name, stream_type, decode, convert, may_drop = route
            if decode is not None and convert is not None:
                try:
                    if not may_drop:
                        return ParsedFrame(convert(decode(raw), ts_recv_ns), None, False, name, stream_type)
                    self._dropped_items = 0
                    events = convert(decode(raw), ts_recv_ns)
                    return ParsedFrame(events, None, False, name, stream_type, None, self._dropped_items)
                except Exception:  # the general path below classifies and reports it
                    pass
            elif stream_type == StreamType.DEPTH and _is_combined(raw):
                return ParsedFrame([], None, False, name, stream_type)
        return self._parse_general(raw, ts_recv_ns)

    def _route(self, key: bytes | str) -> _Route:
        """How to handle frames of one combined-stream name (cached); no decoder: no events, or general path."""
        name = key if isinstance(key, str) else key.decode("utf-8", "replace")
        stream_type, is_array = stream_type_of(name)
        route: _Route = (name, stream_type, None, None, False)
        if "\\" in name or '"' in name:
            pass  # an escaped name needs a real JSON decode: general path
        elif is_array and stream_type in _ARRAY_TYPES:
            route = (name, stream_type, _COMBINED_RAW_LIST.decode, partial(self._array, stream_type), True)
        elif not is_array and stream_type in self._convert:
            convert = self._convert[stream_type]
            route = (name, stream_type, _COMBINED[stream_type].decode, convert, stream_type in _MAY_DROP)
        if len(self._routes) < _ROUTE_CACHE_MAX:
            self._routes[key] = route
        return route

    def _parse_general(self, raw: bytes | str, ts_recv_ns: int) -> ParsedFrame:
        """Every shape, with errors classified; see the module docstring for the routing rules."""
        stream: str | None = None
        stream_type: str = StreamType.UNKNOWN
        try:
            try:
                shape = _SHAPE.decode(raw)
            except msgspec.ValidationError:
                if _is_array(raw):
                    return self._parse_array(raw, ts_recv_ns)
                raise
            stream = shape.stream
            if stream is not None and shape.data:
                _, stream_type, decode, convert, _ = self._routes.get(stream) or self._route(stream)
            elif shape.e is not None:
                stream_type = _EVENT_TYPES.get(shape.e, shape.e)
                decode, convert = _bare_decoder(stream_type), self._convert.get(stream_type)
            elif shape.id or shape.result or shape.error or shape.code:
                return ParsedFrame([], _control_reply(shape), False, None, StreamType.CONTROL)
            elif shape.u and shape.s and shape.b and shape.a:
                stream_type = StreamType.BOOK_TICKER
                decode, convert = _bare_decoder(stream_type), self._book_ticker
            else:
                return self._fail("missing_field" if stream is not None else "unknown_shape", raw, stream)

            if stream_type == StreamType.SERVER_SHUTDOWN:
                return ParsedFrame([], None, True, stream, stream_type)
            if stream_type == StreamType.DEPTH:
                return ParsedFrame([], None, False, stream, stream_type)
            if decode is None or convert is None:
                kind = "unknown_stream" if stream is not None else "unknown_event"
                return self._fail(kind, raw, stream, stream_type)
            self._dropped_items = 0
            events = convert(decode(raw), ts_recv_ns)
            return ParsedFrame(events, None, False, stream, stream_type, None, self._dropped_items)
        except _Drop as exc:
            return self._fail(exc.kind, raw, stream, stream_type)
        except msgspec.ValidationError as exc:
            return self._fail(validation_kind(exc, raw), raw, stream, stream_type, exc)
        except msgspec.DecodeError as exc:
            return self._fail("malformed_json", raw, stream, stream_type, exc)
        except Exception as exc:  # the last line of defence: a frame must never stop the stream
            return self._fail("internal", raw, stream, stream_type, exc)

    def _parse_array(self, raw: bytes | str, ts_recv_ns: int) -> ParsedFrame:
        """A raw (not combined) all-market array: every item must be of one known type."""
        items = _ARRAY_SHAPE.decode(raw)
        if not items:
            return ParsedFrame([], None, False, None, StreamType.UNKNOWN)
        kinds = {_EVENT_TYPES.get(item.e) for item in items}
        stream_type = kinds.pop() if len(kinds) == 1 else None
        if stream_type not in _ARRAY_TYPES or stream_type is None:
            return self._fail("unknown_event", raw, None)
        self._dropped_items = 0
        events = self._array(stream_type, wire.Combined(_RAW_LIST.decode(raw)), ts_recv_ns)
        return ParsedFrame(events, None, False, None, stream_type, None, self._dropped_items)

    def _fail(
        self,
        kind: str,
        raw: bytes | str,
        stream: str | None,
        stream_type: str = StreamType.UNKNOWN,
        exc: BaseException | None = None,
    ) -> ParsedFrame:
        PARSE_ERRORS.labels(self._market_label, kind).inc()
        if self._log_limiter.should_log(kind):
            _log.warning(
                "binance_frame_dropped",
                market=self._market_label,
                kind=kind,
                stream=stream,
                error=str(exc) if exc is not None else None,
                sample=raw[:200] if isinstance(raw, str) else raw[:200].decode("utf-8", "replace"),
            )
        return ParsedFrame([], None, False, stream, stream_type, kind)

    def _drop_item(self, kind: str) -> None:
        """One bad item of an all-market array dropped; the rest of the frame is kept."""
        self._dropped_items += 1
        PARSE_ERRORS.labels(self._market_label, kind).inc()

    def _skip_coin_m(self) -> list[Event]:
        """A COIN-M item (`st == 2`) on a USD-M stream: not bad input, but not ours either."""
        self._dropped_items += 1
        ITEMS_SKIPPED.labels(self._market_label, "coin_m").inc()
        return []

    # --- converters: decoded wire payload (at `.data`) -> events ------------------------------------
    # Ranges were checked while decoding (wire.Price / wire.Amount); these only reshape.

    def _array(
        self, stream_type: str, frame: wire.Combined[list[msgspec.Raw]], ts_recv_ns: int
    ) -> list[Event]:
        """An all-market array, item by item, so one bad item costs only itself."""
        decoder, convert = _BARE[stream_type], self._convert[stream_type]
        events: list[Event] = []
        for item in frame.data:
            try:
                events += convert(wire.Combined(decoder.decode(item)), ts_recv_ns)
            except _Drop as exc:
                self._drop_item(exc.kind)
            except msgspec.ValidationError as exc:
                self._drop_item(validation_kind(exc, item))
        return events

    def _bar(self, frame: wire.Combined[wire.KlineEvent], ts_recv_ns: int) -> list[Event]:
        ev = frame.data
        k = ev.k
        t, T, E = k.t, k.T, ev.E
        bar = Bar(
            self.market, ev.s, k.i, t if t < US_THRESHOLD else t // 1000, T if T < US_THRESHOLD else T // 1000,
            k.o, k.h, k.l, k.c, k.v, k.q, k.n, k.V, k.Q, k.x,
            E * 1_000_000 if E < US_THRESHOLD else E * 1000, ts_recv_ns,
        )  # fmt: skip
        return [bar]

    def _trade(self, frame: wire.Combined[wire.AggTradeEvent], ts_recv_ns: int) -> list[Event]:
        ev = frame.data
        T = ev.T
        ts_event_ns = T * 1_000_000 if T < US_THRESHOLD else T * 1000
        return [Trade(self.market, ev.s, ev.a, ev.p, ev.q, ev.m, ts_event_ns, ts_recv_ns)]

    def _book_ticker(self, frame: wire.Combined[wire.BookTickerEvent], ts_recv_ns: int) -> list[Event]:
        ev = frame.data
        ts = ev.T or ev.E
        ts_event_ns = ts_recv_ns if ts == 0 else (ts * 1_000_000 if ts < US_THRESHOLD else ts * 1000)
        return [BookTicker(self.market, ev.s, ev.u, ev.b, ev.B, ev.a, ev.A, ts_event_ns, ts_recv_ns)]

    def _liquidation(self, frame: wire.Combined[wire.ForceOrderEvent], ts_recv_ns: int) -> list[Event]:
        if frame.data.st == 2:
            return self._skip_coin_m()
        o = frame.data.o
        return [Liquidation(self.market, o.s, o.S, o.p, o.ap, o.q, o.z, o.X, ns_from_venue(o.T), ts_recv_ns)]

    def _mark_price(self, frame: wire.Combined[wire.MarkPriceEvent], ts_recv_ns: int) -> list[Event]:
        ev = frame.data
        if ev.st == 2:
            return self._skip_coin_m()
        try:
            funding_rate = float(ev.r) if ev.r else 0.0
        except ValueError:
            raise _Drop("bad_number") from None
        if not -INF < funding_rate < INF:
            raise _Drop(number_kind(funding_rate))
        mark = MarkPrice(
            self.market, ev.s, ev.p, ev.i, funding_rate, ms_from_venue(ev.T), ns_from_venue(ev.E), ts_recv_ns
        )
        return [mark]

    def _ticker(self, frame: wire.Combined[wire.MiniTickerEvent], ts_recv_ns: int) -> list[Event]:
        ev = frame.data
        if ev.st == 2:
            return self._skip_coin_m()
        return [
            Ticker(self.market, ev.s, ev.c, ev.o, ev.h, ev.l, ev.v, ev.q, ns_from_venue(ev.E), ts_recv_ns)
        ]


def _bare_decoder(stream_type: str) -> Callable[[bytes | str], Any] | None:
    """Decode a raw-stream payload into `wire.Combined` so converters see one shape."""
    decoder = _BARE.get(stream_type)
    if decoder is None:
        return None
    decode = decoder.decode
    return lambda raw: wire.Combined(decode(raw))


def _is_combined(raw: bytes | str) -> bool:
    return raw.startswith('{"stream":"') if isinstance(raw, str) else raw.startswith(b'{"stream":"')


def _is_array(raw: bytes | str) -> bool:
    head = raw.lstrip()[:1]
    return head in (b"[", "[")


def _control_reply(shape: wire.FrameShape) -> ControlReply:
    request_id = _ANY.decode(shape.id) if shape.id else None
    if not isinstance(request_id, int | str) or isinstance(request_id, bool):
        request_id = None
    result = _ANY.decode(shape.result) if shape.result else None
    if shape.error:
        try:
            err = _CONTROL_ERROR.decode(shape.error)
            return ControlReply(request_id, result, err.code, err.msg)
        except msgspec.ValidationError:
            return ControlReply(request_id, result, -1, bytes(shape.error).decode("utf-8", "replace"))
    if shape.code:
        code = _ANY.decode(shape.code)
        msg = _ANY.decode(shape.msg) if shape.msg else ""
        return ControlReply(
            request_id, result, code if isinstance(code, int) else -1, msg if isinstance(msg, str) else ""
        )
    return ControlReply(request_id, result)
