"""Binance endpoints, limits and universe selection."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from cryptoradar.config.base import Section, require_at_most
from cryptoradar.core.intervals import FIXED_INTERVAL_MS

SPOT_INTERVALS = (*FIXED_INTERVAL_MS, "1M")
FUTURES_INTERVALS = tuple(i for i in SPOT_INTERVALS if i != "1s")
"""Binance's kline interval names; USD-M has no `1s` (binance-protocol.md 4.1). Anything else is `-1120`."""


def require_intervals(key: str, intervals: tuple[str, ...], market: str = "spot") -> tuple[str, ...]:
    """`intervals` when each is a Binance interval name of `market` (spot or usdm); else a one-line error."""
    known = SPOT_INTERVALS if market == "spot" else FUTURES_INTERVALS
    unknown = [i for i in intervals if i not in known]
    if unknown:
        raise ValueError(
            f"{key}: {', '.join(map(repr, unknown))} is not a Binance interval (the exchange "
            f"answers -1120); use some of {', '.join(known)} (names are case-sensitive)"
        )
    return intervals


class MarketEndpoints(Section):
    rest_url: str
    ws_url: str
    """For USD-M this is the host only; the client appends the /public or /market route."""
    weight_budget_per_min: int = Field(gt=0)
    """Stay below the documented IP limit (spot 6000, USD-M 2400) so other tools on the host keep room."""
    streams_per_connection: int = Field(gt=0, le=1024)
    control_messages_per_s: float = Field(gt=0, le=10)


class BinanceConfig(Section):
    spot: MarketEndpoints = MarketEndpoints(
        rest_url="https://data-api.binance.vision",
        ws_url="wss://data-stream.binance.vision",
        weight_budget_per_min=4800,
        streams_per_connection=1024,
        control_messages_per_s=3,
    )
    futures: MarketEndpoints = MarketEndpoints(
        rest_url="https://fapi.binance.com",
        ws_url="wss://fstream.binance.com",
        weight_budget_per_min=1800,
        streams_per_connection=200,
        control_messages_per_s=5,
    )
    spot_intervals: tuple[str, ...] = ("1m", "5m", "15m", "1h")
    futures_intervals: tuple[str, ...] = ()
    bootstrap_bars: int = Field(default=100, ge=0, le=1000)
    connect_attempts_per_5min: int = Field(default=200, gt=0, le=300)
    """WebSocket connect attempts per 5 min, shared by all connections of both markets (per-IP cap 300)."""
    stale_after_s: float = Field(default=90.0, gt=0)
    """A stream silent this long forces its connection to reconnect (klines push at least every 2 s)."""
    max_connection_age_s: float = Field(default=23 * 3600, gt=0)
    """Replace each connection (make before break) before Binance's 24 h cut."""
    queue_size: int = Field(default=50_000, gt=0)
    client_ping_interval_s: float | None = Field(default=30.0, ge=20)
    """Our own pings count toward the control-message limit, so never more often than every 20 s."""
    reconnect_initial_s: float = Field(default=1.0, gt=0)
    reconnect_max_s: float = Field(default=60.0, gt=0)
    close_grace_ms: int = Field(default=3_000, ge=0)
    """Exchange-clock ms after a bar's close time before a missing final push is fetched from REST."""
    refetch_after_s: float = Field(default=1.5, gt=0)
    """REST lags the stream a little: re-fetch a just-closed bar after this long if it was missing."""
    bar_check_s: float = Field(default=0.25, gt=0)
    """How often the exchange clock is checked for overdue bars."""
    rest_concurrency: int = Field(default=8, gt=0, le=64)
    time_sync_s: float = Field(default=300.0, gt=0)
    spot_all_market_streams: tuple[str, ...] = ("!miniTicker@arr",)
    """`!miniTicker@arr` keeps the universe's 24 h quote volumes current."""
    futures_symbol_streams: tuple[str, ...] = ("aggTrade", "markPrice@1s")
    """Per-symbol USD-M streams (appended to `<symbol>@`)."""
    futures_all_market_streams: tuple[str, ...] = ("!forceOrder@arr",)

    @field_validator("spot_intervals")
    @classmethod
    def _spot_intervals(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return require_intervals("binance.spot_intervals", value)

    @field_validator("futures_intervals")
    @classmethod
    def _futures_intervals(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return require_intervals("binance.futures_intervals", value, "usdm")

    @model_validator(mode="after")
    def _reconnect_range(self) -> BinanceConfig:
        require_at_most(
            "binance.reconnect_initial_s", self.reconnect_initial_s, "reconnect_max_s", self.reconnect_max_s
        )
        return self


class UniverseConfig(Section):
    quote_asset: str = "USDT"
    min_avg_hourly_quote_volume: float = Field(default=50_000.0, ge=0)
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    max_symbols: int = Field(default=1000, gt=0)
    refresh_s: float = Field(default=3600.0, gt=0)
    """Full refresh from REST (exchangeInfo + 24 h tickers); live mini tickers recompute every min(this, 60 s)."""
    early_refresh_min_gap_s: float = Field(default=60.0, gt=0)
    """Refreshes triggered by the streams (a mini ticker of an unknown symbol, a silent kline stream) come at
    most this often; keep it below `binance.stale_after_s` so a halted symbol leaves before a reconnect."""
    futures: bool = True
