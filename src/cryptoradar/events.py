"""Normalised events: the one language every layer speaks.

Every event carries two timestamps as int nanoseconds since the unix epoch:
`ts_event_ns` (the venue's clock: trade time, event time or block time) and `ts_recv_ns` (our clock when
the frame arrived). Prices are floats: alerting needs speed, not decimal arithmetic.

Structs are tagged so a union of them round-trips through msgspec (recordings, the bus, NATS).
`gc=False` is safe because no event holds a reference cycle; it keeps the collector off the hot path.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec


class Market(StrEnum):
    SPOT = "spot"
    USDM = "usdm"


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class ConnectionState(StrEnum):
    DISCONNECTED = "DISCONNECTED"
    CONNECTING = "CONNECTING"
    CONNECTED = "CONNECTED"
    RECONNECTING = "RECONNECTING"
    FAILED = "FAILED"


class StatusLevel(StrEnum):
    INFO = "info"
    WARNING = "warning"
    OPERATOR = "operator"
    """Needs a human: a REST ban, every connection down, a channel disabled."""


class Bar(msgspec.Struct, frozen=True, gc=False, tag="bar"):
    """One kline. `closed` is true only for the single final version emitted per (symbol, interval, open)."""

    market: Market
    symbol: str
    interval: str
    open_time_ms: int
    close_time_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    quote_volume: float
    trades: int
    taker_buy_volume: float
    taker_buy_quote_volume: float
    closed: bool
    ts_event_ns: int
    ts_recv_ns: int


class Trade(msgspec.Struct, frozen=True, gc=False, tag="trade"):
    """An aggregated trade. `ts_event_ns` is the trade time (`T`)."""

    market: Market
    symbol: str
    agg_id: int
    price: float
    quantity: float
    buyer_is_maker: bool
    ts_event_ns: int
    ts_recv_ns: int

    @property
    def taker_side(self) -> Side:
        """The aggressor: buyer-is-maker means the taker sold."""
        return Side.SELL if self.buyer_is_maker else Side.BUY

    @property
    def notional(self) -> float:
        return self.price * self.quantity


class Liquidation(msgspec.Struct, frozen=True, gc=False, tag="liquidation"):
    """A USD-M forced order. SELL liquidates a long, BUY liquidates a short.

    Binance pushes at most one per symbol per second (the latest), so counts and totals are lower bounds.
    """

    market: Market
    symbol: str
    side: Side
    price: float
    avg_price: float
    quantity: float
    filled_quantity: float
    status: str
    ts_event_ns: int
    ts_recv_ns: int

    @property
    def notional(self) -> float:
        return self.filled_quantity * self.avg_price


class Ticker(msgspec.Struct, frozen=True, gc=False, tag="ticker"):
    """A rolling 24 h mini ticker."""

    market: Market
    symbol: str
    close: float
    open: float
    high: float
    low: float
    volume: float
    quote_volume: float
    ts_event_ns: int
    ts_recv_ns: int


class BookTicker(msgspec.Struct, frozen=True, gc=False, tag="book_ticker"):
    """Best bid and ask. Spot frames carry no event time, so there `ts_event_ns == ts_recv_ns`."""

    market: Market
    symbol: str
    update_id: int
    bid_price: float
    bid_qty: float
    ask_price: float
    ask_qty: float
    ts_event_ns: int
    ts_recv_ns: int

    @property
    def spread_bps(self) -> float:
        mid = (self.bid_price + self.ask_price) / 2
        return (self.ask_price - self.bid_price) / mid * 1e4 if mid > 0 else 0.0


class MarkPrice(msgspec.Struct, frozen=True, gc=False, tag="mark_price"):
    """USD-M mark price with the current funding rate (per funding interval, not annualised)."""

    market: Market
    symbol: str
    mark_price: float
    index_price: float
    funding_rate: float
    next_funding_time_ms: int
    ts_event_ns: int
    ts_recv_ns: int


class FeedStatus(msgspec.Struct, frozen=True, gc=False, tag="feed_status"):
    """A connection changed state, a gap was found or filled, or something needs an operator."""

    source: str
    connection_id: str
    state: ConnectionState
    level: StatusLevel
    reason: str
    ts_event_ns: int
    ts_recv_ns: int


class WalletTrade(msgspec.Struct, frozen=True, gc=False, tag="wallet_trade"):
    """A token movement or fill involving a watched wallet, identified by (chain, tx_hash, log_index).

    `removed` is true when a reorg retracted a trade that was reported before.
    """

    chain: str
    wallet: str
    wallet_label: str
    direction: str
    kind: str
    token: str
    amount: float
    counterparty: str
    tx_hash: str
    log_index: int
    block_number: int
    explorer_url: str
    removed: bool
    ts_event_ns: int
    ts_recv_ns: int


Event = Bar | Trade | Liquidation | Ticker | BookTicker | MarkPrice | FeedStatus | WalletTrade
"""Everything a source can emit."""


# --- Signals: what detectors emit and the alert pipeline consumes ---------------------------------


class Direction(StrEnum):
    BULLISH = "bullish"
    BEARISH = "bearish"
    NEUTRAL = "neutral"


class Severity(StrEnum):
    """Ordered: `rank` is used by delivery queues (higher first)."""

    INFO = "info"
    WARNING = "warning"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.HIGH: 2, Severity.CRITICAL: 3}


class Condition(msgspec.Struct, frozen=True, gc=False):
    """One rule a detector checked: `value op threshold` and whether it held. Makes a signal auditable."""

    name: str
    value: float
    op: str
    threshold: float
    passed: bool


class Signal(msgspec.Struct, frozen=True, gc=False, tag="signal"):
    """A detector's finding.

    `window_start_ms`/`window_end_ms` are the bar's open/close times or a rolling window's bounds; with
    detector, kind, symbol, timeframe and a `market` label they form the dedup key
    (`alerts.rules.signal_signature`). `metrics` carries numbers an
    alert shows (entry, stop, target, strength, z-score...), `labels` carries words (pattern, regime...).
    `symbols` lists every symbol of a grouped signal (the first is `symbol`).
    """

    detector: str
    rule_version: int
    kind: str
    symbol: str
    timeframe: str
    window_start_ms: int
    window_end_ms: int
    direction: Direction
    severity: Severity
    conditions: tuple[Condition, ...]
    metrics: dict[str, float]
    labels: dict[str, str]
    symbols: tuple[str, ...]
    ts_event_ns: int


def decode_event(data: bytes) -> Event:
    """Decode one msgspec-JSON encoded event (see `encode`)."""
    return _EVENT_DECODER.decode(data)


def encode(obj: Event | Signal) -> bytes:
    return _ENCODER.encode(obj)


_EVENT_DECODER: msgspec.json.Decoder[Event] = msgspec.json.Decoder(Event)
_ENCODER = msgspec.json.Encoder()
