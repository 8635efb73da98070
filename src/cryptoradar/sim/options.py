"""What a simulator run is told: market size, clock, limits, and the faults it may inject."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from cryptoradar.core.intervals import FIXED_INTERVAL_MS
from cryptoradar.events import Market

SUPPORTED_INTERVALS_MS: dict[str, int] = {
    name: ms for name, ms in FIXED_INTERVAL_MS.items() if 60_000 <= ms <= 86_400_000
}
"""Every interval the simulator serves: multiples of its 1m base bar up to one day."""


@dataclass(frozen=True, slots=True)
class SimOptions:
    """A simulator run. Same options (and seed) give the same bars, symbols and scenario labels.

    `acceleration` is exchange seconds per wall second; 0 freezes the clock so only `advance_to()` moves
    it (fully deterministic tests). `start_time_ms=None` picks a seeded midnight-UTC date in 2026; the clock
    starts at `start_time_ms`, the bar in progress at the minute before.
    Durations ending in `_wall_s` are real (wall) seconds; `None` for the ping settings means Binance's
    figures (spot: ping 20 s, pong within 60 s; futures: 180 s / 600 s).
    """

    seed: int = 7
    symbols: int = 300
    acceleration: float = 60.0
    intervals: tuple[str, ...] = tuple(SUPPORTED_INTERVALS_MS)
    start_time_ms: int | None = None
    futures_symbols: int = 50
    scenarios: bool = True
    ground_truth_path: Path | None = None
    history_bars: int = 1440
    """1m bars of history before the start time (REST backfill has something to fetch)."""
    host: str = "127.0.0.1"
    spot_port: int = 0
    futures_port: int = 0
    tick_wall_s: float = 0.05
    """How often the market loop wakes to publish what is due."""
    ping_interval_wall_s: float | None = None
    pong_timeout_wall_s: float | None = None
    max_connection_age_wall_s: float | None = None
    """None: 24 h of exchange time, i.e. 24 h / acceleration of wall time."""
    spot_stream_cap: int = 1024
    futures_stream_cap: int = 1024
    futures_design_cap: int = 200
    """Connections holding more streams than this are counted in `connections_over_design_cap`."""
    spot_control_rate_per_s: int = 5
    futures_control_rate_per_s: int = 10
    connect_attempts_limit: int = 300
    connect_window_wall_s: float = 300.0
    """WebSocket connection attempts allowed per IP and market in any window of this many wall seconds
    (spot documents 300 per 5 min; futures states none, so the same is assumed). One more is refused."""
    spot_weight_limit_1m: int = 6000
    futures_weight_limit_1m: int = 2400
    requests_after_429_before_ban: int = 5
    ban_exchange_s: float = 120.0
    scenario_every_bars: int = 15
    """A scenario starts about every this many 1m bars (each market), when `scenarios` is on."""
    fault_plan: FaultPlan | None = None
    spot_listings: int = 0
    futures_listings: int = 0
    """Symbols held back (absent from exchangeInfo, streams and REST) until `Simulator.list_symbol()`
    lists them. Any held-back symbol changes the seed's random paths, so the default is none."""

    def __post_init__(self) -> None:
        unknown = [i for i in self.intervals if i not in SUPPORTED_INTERVALS_MS]
        if unknown:
            raise ValueError(f"unsupported intervals {unknown}; use some of {list(SUPPORTED_INTERVALS_MS)}")
        if self.symbols < 1 or self.futures_symbols < 1:
            raise ValueError("symbols and futures_symbols must be >= 1")
        if self.acceleration < 0:
            raise ValueError("acceleration must be >= 0 (0 = manual clock)")
        if self.history_bars < 60:
            raise ValueError("history_bars must be >= 60")
        if self.connect_attempts_limit < 1 or self.connect_window_wall_s <= 0:
            raise ValueError("connect_attempts_limit must be >= 1 and connect_window_wall_s > 0")
        if self.spot_listings < 0 or self.futures_listings < 0:
            raise ValueError("spot_listings and futures_listings must be >= 0")


class FaultKind(StrEnum):
    DROP_CONNECTIONS = "drop_connections"
    """Close connections abruptly (all, or `fraction` of them)."""
    STALL = "stall"
    """Stop sending on connections (or one `stream`) without closing, for `duration_wall_s` (None: forever)."""
    DUPLICATE_FRAMES = "duplicate_frames"
    """The next `count` frames per connection are sent twice."""
    OUT_OF_ORDER = "out_of_order"
    """After each of the next `count` frames per connection, re-send that stream's previous frame."""
    MALFORMED_FRAMES = "malformed_frames"
    """Send `count` bad frames per connection: broken JSON, missing fields, NaN, negatives, unknown stream."""
    SERVER_SHUTDOWN = "server_shutdown"
    """Send the `serverShutdown` event (spot) to every connection; they stay open."""
    REST_ERRORS = "rest_errors"
    """Answer the next `count` REST requests with `status` (429, 418 or 5xx); 429/418 carry `retry_after`."""
    JUNK_STREAMS = "junk_streams"
    """Send `count` well-formed frames per connection on random stream names nobody subscribed to."""
    HUGE_FRAME = "huge_frame"
    """Send one 10 MB frame to each connection (over the client's frame size limit)."""
    POLICY_CLOSE = "policy_close"
    """Close connections with 1008 (policy violation), as Binance does on a broken limit."""
    FOREIGN_KLINES = "foreign_klines"
    """Send `count` klines per connection on one of its streams, each of a random symbol it does not carry."""
    BROKEN_EXCHANGE_INFO = "broken_exchange_info"
    """Answer the next `count` exchangeInfo requests with 200 and a truncated body."""
    LIST_SYMBOL = "list_symbol"
    """List the next held-back symbol of `market` (see `SimOptions.spot_listings`)."""
    DELIST_SYMBOL = "delist_symbol"
    """Halt `symbol` on `market` (BREAK on spot, SETTLING on USD-M; `remove`: gone from exchangeInfo)."""


_RANDOM_KINDS = [k for k in FaultKind if k not in (FaultKind.LIST_SYMBOL, FaultKind.DELIST_SYMBOL)]
"""What a random plan draws from: the universe changes need a market and a symbol, so they are planned by hand."""


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault. `market=None` hits both markets (the universe changes need a market)."""

    kind: FaultKind
    market: Market | None = None
    fraction: float = 1.0
    stream: str | None = None
    count: int = 1
    status: int = 503
    retry_after: str = "1"
    duration_wall_s: float | None = None
    symbol: str | None = None
    remove: bool = False


@dataclass(frozen=True, slots=True)
class ScheduledFault:
    at_exchange_ms: int
    fault: Fault


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """Faults fired when the exchange clock passes their time. Build one by hand or with `random()`."""

    faults: tuple[ScheduledFault, ...] = field(default_factory=tuple)

    @staticmethod
    def random(seed: int, start_ms: int, duration_ms: int, mean_gap_ms: int) -> FaultPlan:
        """Seeded plan: faults of every kind at exponential gaps of mean `mean_gap_ms` over the duration."""
        rng = random.Random(seed)
        kinds = _RANDOM_KINDS
        out: list[ScheduledFault] = []
        at_ms = start_ms
        while True:
            at_ms += int(rng.expovariate(1.0 / mean_gap_ms)) + 1
            if at_ms >= start_ms + duration_ms:
                break
            kind = rng.choice(kinds)
            fault = Fault(
                kind=kind,
                fraction=rng.choice((1.0, 0.5)),
                count=rng.randint(1, 5),
                status=rng.choice((429, 500, 503)),
                duration_wall_s=rng.choice((0.5, 2.0)) if kind is FaultKind.STALL else None,
            )
            out.append(ScheduledFault(at_ms, fault))
        return FaultPlan(tuple(out))
