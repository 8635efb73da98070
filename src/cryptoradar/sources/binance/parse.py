"""Binance frames -> normalised events, with pre-built decoders and routing by exact key.

`FrameParser.parse(raw, ts_recv_ns)` is the one entry point for WebSocket frames (live, replay, recordings).
Routing by shape:

- `stream` + `data`: a combined-stream event. The frame is decoded once, straight into the payload's wire
  type, picked by the payload's event type `e` (a tagged union); the stream name decides only where the
  payload has no `e`: spot bookTicker, and all-market arrays (whose items are decoded one by one).
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

Plausibility (-> the kind in brackets): a symbol is 1 to 64 characters of `A-Z 0-9 _` or non-ASCII letters
and digits (Binance lists UTF-8 symbols since 2025-12) ["bad_symbol"]; event, trade and kline open times
must be > 0, bookTicker and markPrice `T` >= 0 (absent or 0 there) ["bad_time"]; a kline's low <= high,
and on the final push its open and close lie within [low, high] ["kline_range"]. Times are checked while
decoding (`wire.Time`); symbols seen valid are remembered (at most `KNOWN_SYMBOLS_MAX`), so the symbol
check costs one set lookup on the fast path.

Times: ms -> ns; a value >= 1e15 is taken as µs (spot `timeUnit=MICROSECOND`). Kline open/close times are
kept in ms. Event time: kline `E`, aggTrade `T`, forceOrder `o.T`, markPrice and tickers `E`, USD-M
bookTicker `T` (else `E`), spot bookTicker the receive time.

The parser does not count `FRAMES`: whoever owns the connection counts it with `ParsedFrame.stream_type`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import StrEnum
from functools import lru_cache
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


# Reading a StrEnum member costs about 0.2 µs on Python 3.11: the fast path uses these instead.
_BOOK_TICKER: str = StreamType.BOOK_TICKER
_DEPTH: str = StreamType.DEPTH
_SERVER_SHUTDOWN: str = StreamType.SERVER_SHUTDOWN

STREAM_NAME_CACHE_MAX = 4_096
STREAM_NAME_CACHED_MAX_CHARS = 100
"""Stream names are a finite set per deployment, the longest real ones about 40 characters. Only names up
to this length are cached, in at most `STREAM_NAME_CACHE_MAX` entries: a hostile peer's flood of junk
names costs a bounded few hundred kB, not memory without end."""
_lru_stream_type_of = lru_cache(maxsize=STREAM_NAME_CACHE_MAX)(stream_type_of)


def _cached_stream_type_of(stream: str) -> tuple[str, bool]:
    if len(stream) > STREAM_NAME_CACHED_MAX_CHARS:
        return stream_type_of(stream)
    return _lru_stream_type_of(stream)


KNOWN_SYMBOLS_MAX = 8_192
"""Valid symbols remembered (by all parsers); past it new symbols are still checked, just not remembered."""
_known_symbols: set[str] = set()
"""A module global, not an attribute: the lookup is on the hot path of every frame."""
_VALID_SYMBOL = re.compile(r"[^\Wa-z]{1,64}").fullmatch
"""Word characters (any script) except ASCII lowercase: `BTCUSDT`, `BTCUSDT_261225`, UTF-8 names; no
punctuation, spaces, control characters or newlines (`fullmatch` does not accept a trailing newline)."""


# --- pre-built decoders ----------------------------------------------------------------------------

_decode_frame = msgspec.json.Decoder(wire.Combined[wire.StreamPayload], strict=False).decode
_decode_spot_book_frame = msgspec.json.Decoder(wire.Combined[wire.BookTickerEvent], strict=False).decode
_SHAPE = msgspec.json.Decoder(wire.FrameShape)
_ARRAY_SHAPE = msgspec.json.Decoder(list[wire.PayloadShape], strict=False)
_EVENT_TYPE = msgspec.json.Decoder(wire.PayloadShape)
_RAW_LIST = msgspec.json.Decoder(list[msgspec.Raw])
_CONTROL_ERROR = msgspec.json.Decoder(wire.ControlError, strict=False)
_ANY = msgspec.json.Decoder()

_QUOTE = frozenset({'"', ord('"')})
"""`raw[-3]` of a compact spot bookTicker frame (`..."A":"0.401"}}`), as `str` and as `bytes` give it."""

_PAYLOAD_TYPES: dict[str, type[msgspec.Struct]] = {
    StreamType.KLINE: wire.KlineEvent,
    StreamType.AGG_TRADE: wire.AggTradeEvent,
    StreamType.BOOK_TICKER: wire.BookTickerEvent,
    StreamType.FORCE_ORDER: wire.ForceOrderEvent,
    StreamType.MARK_PRICE: wire.MarkPriceEvent,
    StreamType.MINI_TICKER: wire.MiniTickerEvent,
    StreamType.TICKER: wire.TickerEvent,
}
_STREAM_TYPES: dict[type, str] = {
    **{cls: stream_type for stream_type, cls in _PAYLOAD_TYPES.items()},
    wire.DepthUpdate: StreamType.DEPTH,
    wire.ServerShutdown: StreamType.SERVER_SHUTDOWN,
}
_ARRAY_TYPES = frozenset({StreamType.MARK_PRICE, StreamType.MINI_TICKER, StreamType.TICKER})
"""Stream types that also come as all-market arrays."""
_BARE: dict[str, msgspec.json.Decoder[Any]] = {
    t: msgspec.json.Decoder(cls, strict=False) for t, cls in _PAYLOAD_TYPES.items()
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

_Convert = Callable[[Any, int], Event | None]
"""Decoded wire payload -> its event, or None for a COIN-M item (`st == 2`) that is skipped."""


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
        # payload class -> (stream type, converter); no converter: no event (depth, shutdown) or an array
        self._by_class: dict[type, tuple[str, _Convert | None]] = {
            cls: (stream_type, self._convert.get(stream_type)) for cls, stream_type in _STREAM_TYPES.items()
        }
        self._by_class[list] = (StreamType.UNKNOWN, None)
        self._spot = market == Market.SPOT

    # --- entry point -------------------------------------------------------------------------------

    def parse(self, raw: bytes | str, ts_recv_ns: int) -> ParsedFrame:
        """Parse one frame. Never raises on bad input; see the module docstring for the contract."""
        # Fast path: a compact combined frame decodes in one pass, the payload's `e` picking its type.
        # Any failure here (bad input, another shape, an `e`-less spot bookTicker written differently)
        # goes on to the general path, which classifies and reports it.
        try:
            # Spot bookTicker payloads have no `e`; they are the spot frames ending in a string value
            # (`..."A":"0.401"}}`) apart from single tickers, which fail this decode on their `e` and
            # take the tagged union below.
            if self._spot and raw[-3] in _QUOTE:
                try:
                    book = _decode_spot_book_frame(raw)
                    bid_ask = self._book_ticker(book.data, ts_recv_ns)
                    return ParsedFrame([bid_ask], None, False, book.stream, _BOOK_TICKER)
                except msgspec.ValidationError:
                    pass
            frame = _decode_frame(raw)
            data = frame.data
            stream_type, convert = self._by_class[type(data)]
            if convert is not None:
                event = convert(data, ts_recv_ns)
                if event is not None:
                    return ParsedFrame([event], None, False, frame.stream, stream_type)
                return self._skip_coin_m(frame.stream, stream_type)
            if stream_type == _DEPTH:
                return ParsedFrame([], None, False, frame.stream, stream_type)
            if stream_type == _SERVER_SHUTDOWN:
                return ParsedFrame([], None, True, frame.stream, stream_type)
            if isinstance(data, list):  # an all-market array, typed by its stream name
                stream_type, is_array = _cached_stream_type_of(frame.stream)
                if is_array and stream_type in _ARRAY_TYPES:
                    events, dropped = self._array(stream_type, data, ts_recv_ns)
                    return ParsedFrame(events, None, False, frame.stream, stream_type, None, dropped)
        except Exception:  # the general path below classifies and reports it
            pass
        return self._parse_general(raw, ts_recv_ns)

    def _parse_general(self, raw: bytes | str, ts_recv_ns: int) -> ParsedFrame:
        """Every shape, with errors classified; see the module docstring for the routing rules."""
        stream: str | None = None
        stream_type: str = StreamType.UNKNOWN
        payload = raw
        try:
            try:
                shape = _SHAPE.decode(raw)
            except msgspec.ValidationError:
                if _is_array(raw):
                    return self._parse_array(raw, ts_recv_ns)
                raise
            stream = shape.stream
            if stream is not None and shape.data:
                payload = bytes(shape.data)
                stream_type, is_array = _cached_stream_type_of(stream)
                if _is_array(payload):
                    if is_array and stream_type in _ARRAY_TYPES:
                        events, dropped = self._array(stream_type, _RAW_LIST.decode(payload), ts_recv_ns)
                        return ParsedFrame(events, None, False, stream, stream_type, None, dropped)
                else:
                    event_type = _EVENT_TYPE.decode(payload).e
                    if event_type:  # the payload's own type wins over the stream name, as on the fast path
                        stream_type = _EVENT_TYPES.get(event_type, event_type)
            elif shape.e is not None:
                stream_type = _EVENT_TYPES.get(shape.e, shape.e)
            elif shape.id or shape.result or shape.error or shape.code:
                return ParsedFrame([], _control_reply(shape), False, None, StreamType.CONTROL)
            elif shape.u and shape.s and shape.b and shape.a:
                stream_type = StreamType.BOOK_TICKER
            else:
                return self._fail("missing_field" if stream is not None else "unknown_shape", raw, stream)

            if stream_type == StreamType.SERVER_SHUTDOWN:
                return ParsedFrame([], None, True, stream, stream_type)
            if stream_type == StreamType.DEPTH:
                return ParsedFrame([], None, False, stream, stream_type)
            decoder, convert = _BARE.get(stream_type), self._convert.get(stream_type)
            if decoder is None or convert is None:
                kind = "unknown_stream" if stream is not None else "unknown_event"
                return self._fail(kind, raw, stream, stream_type)
            event = convert(decoder.decode(payload), ts_recv_ns)
            if event is None:
                return self._skip_coin_m(stream, stream_type)
            return ParsedFrame([event], None, False, stream, stream_type)
        except _Drop as exc:
            return self._fail(exc.kind, raw, stream, stream_type)
        except msgspec.ValidationError as exc:
            return self._fail(validation_kind(exc, payload), raw, stream, stream_type, exc)
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
        events, dropped = self._array(stream_type, _RAW_LIST.decode(raw), ts_recv_ns)
        return ParsedFrame(events, None, False, None, stream_type, None, dropped)

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

    def _skip_coin_m(self, stream: str | None, stream_type: str) -> ParsedFrame:
        """A COIN-M payload (`st == 2`) on a USD-M stream: not bad input, but not ours either."""
        ITEMS_SKIPPED.labels(self._market_label, "coin_m").inc()
        return ParsedFrame([], None, False, stream, stream_type, None, 1)

    def _array(self, stream_type: str, items: list[msgspec.Raw], ts_recv_ns: int) -> tuple[list[Event], int]:
        """(events, items dropped) of an all-market array, item by item, so one bad item costs only itself."""
        decode, convert = _BARE[stream_type].decode, self._convert[stream_type]
        events: list[Event] = []
        coin_m = bad = 0
        for item in items:
            try:
                event = convert(decode(item), ts_recv_ns)
            except _Drop as exc:
                bad += 1
                PARSE_ERRORS.labels(self._market_label, exc.kind).inc()
                continue
            except msgspec.ValidationError as exc:
                bad += 1
                PARSE_ERRORS.labels(self._market_label, validation_kind(exc, item)).inc()
                continue
            if event is None:
                coin_m += 1
            else:
                events.append(event)
        if coin_m:
            ITEMS_SKIPPED.labels(self._market_label, "coin_m").inc(coin_m)
        return events, coin_m + bad

    # --- converters: decoded wire payload -> event (None: a skipped COIN-M payload) -----------------
    # Ranges were checked while decoding (wire.Price / wire.Amount), except the funding rate's (a string).
    # Venue times are ms, or µs when >= US_THRESHOLD (see checks.ns_from_venue), converted inline.

    def _bar(self, ev: wire.KlineEvent, ts_recv_ns: int) -> Event:
        k = ev.k
        t, T, E = k.t, k.T, ev.E
        s, high, low, final = ev.s, k.h, k.l, k.x
        if s not in _known_symbols:
            _check_symbol(s)
        # Open and close are checked on the final push only (4 comparisons cost ~5% of a kline's parse);
        # an in-progress snapshot just needs a range that is not inverted.
        if low > high or (final and not (low <= k.o <= high and low <= k.c <= high)):
            raise _Drop("kline_range")
        return Bar(
            self.market, s, k.i, t if t < US_THRESHOLD else t // 1000, T if T < US_THRESHOLD else T // 1000,
            k.o, high, low, k.c, k.v, k.q, k.n, k.V, k.Q, final,
            E * 1_000_000 if E < US_THRESHOLD else E * 1000, ts_recv_ns,
        )  # fmt: skip

    def _trade(self, ev: wire.AggTradeEvent, ts_recv_ns: int) -> Event:
        T, s = ev.T, ev.s
        if s not in _known_symbols:
            _check_symbol(s)
        ts_event_ns = T * 1_000_000 if T < US_THRESHOLD else T * 1000
        return Trade(self.market, s, ev.a, ev.p, ev.q, ev.m, ts_event_ns, ts_recv_ns)

    def _book_ticker(self, ev: wire.BookTickerEvent, ts_recv_ns: int) -> Event:
        s = ev.s
        if s not in _known_symbols:
            _check_symbol(s)
        ts = ev.T or ev.E
        ts_event_ns = ts_recv_ns if ts == 0 else (ts * 1_000_000 if ts < US_THRESHOLD else ts * 1000)
        return BookTicker(self.market, s, ev.u, ev.b, ev.B, ev.a, ev.A, ts_event_ns, ts_recv_ns)

    def _liquidation(self, ev: wire.ForceOrderEvent, ts_recv_ns: int) -> Event | None:
        if ev.st == 2:
            return None
        o = ev.o
        T, s = o.T, o.s
        if s not in _known_symbols:
            _check_symbol(s)
        ts_event_ns = T * 1_000_000 if T < US_THRESHOLD else T * 1000
        return Liquidation(self.market, s, o.S, o.p, o.ap, o.q, o.z, o.X, ts_event_ns, ts_recv_ns)

    def _mark_price(self, ev: wire.MarkPriceEvent, ts_recv_ns: int) -> Event | None:
        if ev.st == 2:
            return None
        if ev.s not in _known_symbols:
            _check_symbol(ev.s)
        try:
            funding_rate = float(ev.r) if ev.r else 0.0
        except ValueError:
            raise _Drop("bad_number") from None
        if not -INF < funding_rate < INF:
            raise _Drop(number_kind(funding_rate))
        T, E = ev.T, ev.E
        return MarkPrice(
            self.market, ev.s, ev.p, ev.i, funding_rate, T if T < US_THRESHOLD else T // 1000,
            E * 1_000_000 if E < US_THRESHOLD else E * 1000, ts_recv_ns,
        )  # fmt: skip

    def _ticker(self, ev: wire.MiniTickerEvent, ts_recv_ns: int) -> Event | None:
        if ev.st == 2:
            return None
        if ev.s not in _known_symbols:
            _check_symbol(ev.s)
        E = ev.E
        ts_event_ns = E * 1_000_000 if E < US_THRESHOLD else E * 1000
        return Ticker(self.market, ev.s, ev.c, ev.o, ev.h, ev.l, ev.v, ev.q, ts_event_ns, ts_recv_ns)


def _check_symbol(symbol: str) -> None:
    """Raises `_Drop("bad_symbol")` unless the symbol is plausible; remembers valid ones (bounded)."""
    if _VALID_SYMBOL(symbol) is None:
        raise _Drop("bad_symbol")
    if len(_known_symbols) < KNOWN_SYMBOLS_MAX:
        _known_symbols.add(symbol)


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
