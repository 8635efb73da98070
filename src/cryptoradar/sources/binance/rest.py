"""Binance REST (spot `/api/v3`, USD-M `/fapi/v1`) with weight accounting, bans and a circuit breaker.

Contract:

- Every request reserves its documented weight (`request_weight`, fact sheet §5) against
  `weight_budget_per_min` for the current exchange-clock minute before it is sent; if it does not fit, it
  waits for the next minute. `X-MBX-USED-WEIGHT-1M` from responses raises the local count (never lowers
  it). Requests still in flight at a minute boundary are counted in the new minute too, since the
  server may count them there.
- 429: the request is retried after `Retry-After`, and every other request waits for it as well. A 429
  pause of `LONG_PAUSE_S` or more is also published as an operator-level `FeedStatus`, as a ban is.
- 418: all REST for this market stops until `Retry-After` passes; requests fail fast with
  `RetryableError(retry_after_s)` and an operator-level `FeedStatus` is published once per ban.
  `Retry-After` is wall seconds (what to sleep), so these two waits use the event loop's clock. It is
  capped at `RETRY_AFTER_MAX_S`: a broken or hostile server's `Retry-After: 1e9` must not stop REST for
  good; after the cap one request probes, and a ban still in force answers 418 again.
- fundingRate does not count against the weight; it is paced by its own bucket (480 per 5 min).
- 5xx / network errors: retried with backoff; after `breaker_failures` consecutive 5xx the breaker opens
  for `breaker_cooldown_s` (requests fail fast), then lets one probe through (half-open).
- Other 4xx: `PermanentError`.

The weight window is the exchange clock's minute (`ServerClock`), which is also what the simulator's
accelerated time counts in; the breaker cooldown is wall time (server health).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import NoReturn, TypeVar
from urllib.parse import urlsplit

import aiohttp
import msgspec
import structlog

from cryptoradar.core.backoff import Backoff
from cryptoradar.core.clock import Clock
from cryptoradar.core.errors import PermanentError, RetryableError
from cryptoradar.core.metrics import REST_REQUESTS, REST_WEIGHT_USED
from cryptoradar.events import Bar, ConnectionState, FeedStatus, Market, StatusLevel, Ticker
from cryptoradar.sources.base import TokenBucket
from cryptoradar.sources.binance import wire
from cryptoradar.sources.binance.bars import nominal_interval_ms
from cryptoradar.sources.binance.checks import WireFormatError
from cryptoradar.sources.binance.rest_parse import (
    decode_exchange_info,
    decode_funding_rates,
    decode_premium_index,
    parse_rest_klines,
    parse_rest_tickers_24h,
)

__all__ = [
    "BinanceRest",
    "BreakerState",
    "CircuitBreaker",
    "Endpoint",
    "RestSettings",
    "ServerClock",
    "WeightGate",
    "futures_klines_limit",
    "klines_limit",
    "request_weight",
]

log = structlog.get_logger(__name__)

MINUTE_MS = 60_000
FUNDING_RATE_REQUESTS_PER_5MIN = 480
"""fundingRate has its own 500 requests / 5 min / IP bucket and sends no weight header (sheet §5.5)."""
RETRY_AFTER_MAX_S = 300.0
"""The longest pause a `Retry-After` can impose; see the module docstring and docs/decisions.md."""
LONG_PAUSE_S = 60.0
"""A 429 pause at least this long is reported to the operator (418 bans always are)."""
_T = TypeVar("_T")


class Endpoint(StrEnum):
    KLINES = "klines"
    EXCHANGE_INFO = "exchangeInfo"
    TICKER_24H = "ticker/24hr"
    PREMIUM_INDEX = "premiumIndex"
    FUNDING_RATE = "fundingRate"
    TIME = "time"


_PREFIX = {Market.SPOT: "/api/v3/", Market.USDM: "/fapi/v1/"}
SPOT_KLINES_LIMIT = 1000
FUTURES_KLINES_LIMIT = 1000


def request_weight(market: Market, endpoint: Endpoint, params: Mapping[str, str]) -> int:
    """The documented request weight (fact sheet §5). fundingRate uses a separate 500/5 min bucket
    (`BinanceRest.funding_bucket`), so it costs no weight here."""
    if endpoint is Endpoint.KLINES:
        if market is Market.SPOT:
            return 2
        limit = int(params.get("limit", "500"))
        return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10
    if endpoint is Endpoint.EXCHANGE_INFO:
        return 20 if market is Market.SPOT else 1
    if endpoint is Endpoint.TICKER_24H:
        if market is Market.USDM:
            return 1 if "symbol" in params else 40
        if "symbol" in params:
            return 2
        if "symbols" in params:
            n = params["symbols"].count(",") + 1
            return 2 if n <= 20 else 40 if n <= 100 else 80
        return 80
    if endpoint is Endpoint.PREMIUM_INDEX:
        return 1 if "symbol" in params else 10
    if endpoint is Endpoint.FUNDING_RATE:
        return 0
    return 1


def futures_klines_limit(expected_rows: int) -> int:
    """The cheapest explicit limit covering `expected_rows` (weight bands 1/2/5 at <100/<500/<=1000)."""
    if expected_rows < 100:
        return 99
    if expected_rows < 500:
        return 499
    return FUTURES_KLINES_LIMIT


def klines_limit(market: Market, expected_rows: int) -> int:
    """The limit to send for a page of `expected_rows` klines: spot costs 2 whatever the limit, USD-M
    weight grows with the limit asked, not the rows sent (`futures_klines_limit`)."""
    return SPOT_KLINES_LIMIT if market is Market.SPOT else futures_klines_limit(expected_rows)


class ServerClock:
    """Exchange time = local clock + offset measured from `GET time` (midpoint of the round trip), but
    never earlier than the newest event time the exchange has stamped on a stream frame.

    The floor matters when the local clock falls behind between two `GET time` measurements (a drifting
    clock, or an accelerated simulator in another process): bar closing and gap detection run on this
    estimate, and one that lags would never see a missed final kline as overdue.
    """

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.offset_ms = 0
        self._floor_ms = 0

    def now_ms(self) -> int:
        return max(self.clock.now_ns() // 1_000_000 + self.offset_ms, self._floor_ms)

    def observe_event_ms(self, event_ms: int) -> None:
        """The exchange stamped a frame at `event_ms`: its clock has reached at least that."""
        if event_ms > self._floor_ms:
            self._floor_ms = event_ms

    def update(self, server_time_ms: int, sent_local_ms: int, recv_local_ms: int) -> None:
        self.offset_ms = server_time_ms - (sent_local_ms + recv_local_ms) // 2


async def sleep_until_server_ms(server: ServerClock, deadline_ms: int, poll_s: float = 0.05) -> None:
    """Wait on the exchange clock by polling, so accelerated (simulated) time is honoured too."""
    # Polling, not an Event: nothing signals "the (possibly accelerated) exchange clock reached X".
    while server.now_ms() < deadline_ms:  # noqa: ASYNC110
        await asyncio.sleep(poll_s)


class WeightGate:
    """Per-minute weight reservations on the exchange clock; see the module docstring."""

    def __init__(self, market: Market, budget_per_min: int, server: ServerClock) -> None:
        self.market = market
        self.budget = budget_per_min
        self._server = server
        self._window = -1
        self.used = 0
        self.in_flight = 0
        self.peak_used = 0
        self._gauge = REST_WEIGHT_USED.labels(market=market)

    def _roll(self) -> None:
        window = self._server.now_ms() // MINUTE_MS
        if window != self._window:
            self._window = window
            self.used = self.in_flight

    async def reserve(self, weight: int) -> None:
        weight = min(weight, self.budget)
        while True:
            self._roll()
            if self.used + weight <= self.budget:
                self.used += weight
                self.in_flight += weight
                self.peak_used = max(self.peak_used, self.used)
                return
            await sleep_until_server_ms(self._server, (self._window + 1) * MINUTE_MS)

    def used_this_minute(self) -> int:
        """Weight counted in the current exchange-clock minute (0 once a quiet minute has begun)."""
        self._roll()
        return self.used

    def release(self, weight: int, header_used: int | None) -> None:
        self.in_flight -= min(weight, self.budget)
        self._roll()
        if header_used is not None:
            self.used = max(self.used, header_used)
            self._gauge.set(header_used)
        self.peak_used = max(self.peak_used, self.used)


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Opens after `failures` consecutive server errors; half-open (one probe) after `cooldown_s`."""

    def __init__(self, failures: int, cooldown_s: float) -> None:
        self.failures_to_open = failures
        self.cooldown_s = cooldown_s
        self.consecutive = 0
        self.state = BreakerState.CLOSED
        self._opened_s = 0.0
        self._probe_busy = False

    def before(self) -> None:
        """Raise `RetryableError` if the breaker refuses this request."""
        now_s = asyncio.get_running_loop().time()
        if self.state is BreakerState.OPEN:
            remaining_s = self._opened_s + self.cooldown_s - now_s
            if remaining_s > 0:
                raise RetryableError("circuit open after repeated server errors", remaining_s)
            self.state = BreakerState.HALF_OPEN
        if self.state is BreakerState.HALF_OPEN:
            if self._probe_busy:
                raise RetryableError("circuit half-open; probe in flight", self.cooldown_s)
            self._probe_busy = True

    def before_abandoned(self) -> None:
        """The request got no answer at all: a half-open probe slot is free again."""
        self._probe_busy = False

    def success(self) -> None:
        self.consecutive = 0
        self.state = BreakerState.CLOSED
        self._probe_busy = False

    def failure(self) -> None:
        self.consecutive += 1
        self._probe_busy = False
        if self.state is BreakerState.HALF_OPEN or self.consecutive >= self.failures_to_open:
            self.state = BreakerState.OPEN
            self._opened_s = asyncio.get_running_loop().time()


class RestSettings(msgspec.Struct, frozen=True):
    market: Market
    base_url: str
    weight_budget_per_min: int
    timeout_s: float = 10.0
    max_attempts: int = 4
    breaker_failures: int = 5
    breaker_cooldown_s: float = 30.0
    retry_initial_s: float = 0.2


class BinanceRest:
    """One market's REST client. Open with `async with` or `start()`/`close()`."""

    def __init__(
        self,
        settings: RestSettings,
        clock: Clock,
        publish_status: Callable[[FeedStatus], None] = lambda _s: None,
    ) -> None:
        self.settings = settings
        self.market = settings.market
        self.server = ServerClock(clock)
        self.gate = WeightGate(settings.market, settings.weight_budget_per_min, self.server)
        self.breaker = CircuitBreaker(settings.breaker_failures, settings.breaker_cooldown_s)
        self.funding_bucket = TokenBucket.at_most(FUNDING_RATE_REQUESTS_PER_5MIN, 300.0)
        self._clock = clock
        self._publish = publish_status
        self._session: aiohttp.ClientSession | None = None
        self.blocked_until_s = 0.0
        """429: every request waits until then (event loop clock)."""
        self.banned_until_s = 0.0
        """418: every request fails fast until then (event loop clock)."""
        self.requests_sent = 0

    async def __aenter__(self) -> BinanceRest:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.settings.timeout_s)
            )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # --- endpoints ---------------------------------------------------------------------------------

    async def sync_time(self) -> int:
        """Measure the exchange clock offset; returns it in ms."""
        sent_ms = self._clock.now_ns() // 1_000_000
        body = await self._request(Endpoint.TIME, {})
        recv_ms = self._clock.now_ns() // 1_000_000
        self.server.update(_TIME.decode(body).serverTime, sent_ms, recv_ms)
        return self.server.offset_ms

    async def klines(
        self,
        symbol: str,
        interval: str,
        *,
        limit: int,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> list[Bar]:
        """One page of klines; `limit` is always sent (its absence costs more on USD-M)."""
        params = {"symbol": symbol, "interval": interval, "limit": str(limit)}
        if start_ms is not None:
            params["startTime"] = str(start_ms)
        if end_ms is not None:
            params["endTime"] = str(end_ms)
        requested_at_ms = self.server.now_ms()
        body = await self._request(Endpoint.KLINES, params)
        return self._decode(
            lambda: parse_rest_klines(
                body, self.market, symbol, interval, requested_at_ms, self._clock.now_ns()
            )
        )

    async def klines_range(self, symbol: str, interval: str, start_ms: int, end_ms: int) -> list[Bar]:
        """All bars opening in [start_ms, end_ms], paginated by moving startTime past the last row."""
        out: list[Bar] = []
        step_ms = nominal_interval_ms(interval)
        while start_ms <= end_ms:
            expected = (end_ms - start_ms) // step_ms + 1
            limit = klines_limit(self.market, expected)
            page = await self.klines(symbol, interval, limit=limit, start_ms=start_ms, end_ms=end_ms)
            out.extend(page)
            if len(page) < limit:
                break
            start_ms = page[-1].open_time_ms + 1
        return out

    async def recent_klines(self, symbol: str, interval: str, bars: int) -> list[Bar]:
        """The newest `bars` bars plus the one in progress (bootstrap)."""
        limit = min(bars + 1, SPOT_KLINES_LIMIT if self.market is Market.SPOT else 1500)
        return await self.klines(symbol, interval, limit=limit)

    async def exchange_info(self) -> wire.ExchangeInfo:
        body = await self._request(Endpoint.EXCHANGE_INFO, {})
        return self._decode(lambda: decode_exchange_info(body))

    async def tickers_24h(self) -> list[Ticker]:
        body = await self._request(Endpoint.TICKER_24H, {})
        return self._decode(lambda: parse_rest_tickers_24h(body, self.market, self._clock.now_ns()))

    async def premium_index(self, symbol: str | None = None) -> list[wire.PremiumIndex]:
        self._require_futures(Endpoint.PREMIUM_INDEX)
        body = await self._request(Endpoint.PREMIUM_INDEX, {"symbol": symbol} if symbol else {})
        return self._decode(lambda: decode_premium_index(body))

    async def funding_rate(
        self, symbol: str, *, start_ms: int | None = None, end_ms: int | None = None, limit: int = 1000
    ) -> list[wire.FundingRate]:
        self._require_futures(Endpoint.FUNDING_RATE)
        params = {"symbol": symbol, "limit": str(limit)}
        if start_ms is not None:
            params["startTime"] = str(start_ms)
        if end_ms is not None:
            params["endTime"] = str(end_ms)
        body = await self._request(Endpoint.FUNDING_RATE, params)
        return self._decode(lambda: decode_funding_rates(body))

    # --- the request path --------------------------------------------------------------------------

    def _require_futures(self, endpoint: Endpoint) -> None:
        if self.market is not Market.USDM:
            raise PermanentError(f"{endpoint} exists on USD-M only")

    def _decode(self, decode: Callable[[], _T]) -> _T:
        try:
            return decode()
        except WireFormatError as e:
            raise RetryableError(f"undecodable {self.market} REST body: {e.kind}") from e

    async def _request(self, endpoint: Endpoint, params: Mapping[str, str]) -> bytes:
        backoff = Backoff(initial_s=self.settings.retry_initial_s, max_s=5.0)
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._request_once(endpoint, params)
            except RetryableError as e:
                now_s = asyncio.get_running_loop().time()
                if now_s < self.banned_until_s or attempt >= self.settings.max_attempts:
                    raise
                if self.blocked_until_s > now_s:
                    continue  # 429: the next attempt waits for Retry-After in `_request_once`
                await asyncio.sleep(max(backoff.next_delay_s(), min(e.retry_after_s or 0.0, 5.0)))

    async def _request_once(self, endpoint: Endpoint, params: Mapping[str, str]) -> bytes:
        loop = asyncio.get_running_loop()
        if loop.time() < self.banned_until_s:
            raise RetryableError(f"{self.market} REST banned (418)", self.banned_until_s - loop.time())
        if self.blocked_until_s > loop.time():
            await asyncio.sleep(self.blocked_until_s - loop.time())
        self.breaker.before()
        weight = request_weight(self.market, endpoint, params)
        if endpoint is Endpoint.FUNDING_RATE:
            await self.funding_bucket.acquire()
        await self.gate.reserve(weight)
        session = self._session
        if session is None:
            raise RuntimeError("BinanceRest used before start()")
        header_used: int | None = None
        url = f"{self.settings.base_url.rstrip('/')}{_PREFIX[self.market]}{endpoint.value}"
        try:
            self.requests_sent += 1
            async with session.get(url, params=dict(params)) as resp:
                header = resp.headers.get("X-MBX-USED-WEIGHT-1M")
                header_used = int(header) if header and header.isdigit() else None
                body = await resp.read()
                status = resp.status
                retry_after_s = _retry_after_s(resp.headers.get("Retry-After"))
        except (aiohttp.ClientError, TimeoutError) as e:
            # Not a breaker failure: the breaker is about a server answering 5xx; an unreachable host
            # is already paced by the retry backoff.
            self.breaker.before_abandoned()
            REST_REQUESTS.labels(self.market, endpoint.value, "network").inc()
            host = urlsplit(url).hostname
            raise RetryableError(f"{self.market} REST unreachable at {host}: {type(e).__name__}") from e
        finally:
            self.gate.release(weight, header_used)
        REST_REQUESTS.labels(self.market, endpoint.value, str(status)).inc()
        if status == 200:
            self.breaker.success()
            return body
        self._raise_for_status(status, retry_after_s, body)

    def _raise_for_status(self, status: int, retry_after_s: float | None, body: bytes) -> NoReturn:
        now_s = asyncio.get_running_loop().time()
        if status == 418:
            wait_s = retry_after_s if retry_after_s is not None else 120.0
            self.banned_until_s = now_s + wait_s
            self._publish_ban(wait_s)
            raise RetryableError(f"{self.market} REST banned (418)", wait_s)
        if status == 429:
            wait_s = retry_after_s if retry_after_s is not None else 1.0
            if wait_s >= LONG_PAUSE_S and self.blocked_until_s < now_s + wait_s:
                self._publish_pause(f"rate limited (429): all REST paused for {wait_s:.0f} s")
            self.blocked_until_s = max(self.blocked_until_s, now_s + wait_s)
            log.warning("rest_rate_limited", market=self.market, retry_after_s=wait_s)
            raise RetryableError(f"{self.market} REST rate limited (429)", wait_s)
        if status >= 500:
            self.breaker.failure()
            raise RetryableError(f"{self.market} REST server error {status}", retry_after_s)
        self.breaker.success()
        raise PermanentError(f"{self.market} REST {status}: {body[:200].decode('utf-8', 'replace')}")

    def _publish_ban(self, wait_s: float) -> None:
        log.error("rest_banned", market=self.market, retry_after_s=wait_s)
        self._publish_pause(f"IP ban (418): all REST paused for {wait_s:.0f} s")

    def _publish_pause(self, what: str) -> None:
        now_ns = self._clock.now_ns()
        self._publish(
            FeedStatus(
                source=f"binance-{self.market}-rest",
                connection_id="rest",
                state=ConnectionState.FAILED,
                level=StatusLevel.OPERATOR,
                reason=f"Binance {self.market} REST {what}",
                ts_event_ns=now_ns,
                ts_recv_ns=now_ns,
            )
        )


class _ServerTime(msgspec.Struct):
    serverTime: int


_TIME = msgspec.json.Decoder(_ServerTime)


def _retry_after_s(value: str | None) -> float | None:
    """`Retry-After` seconds within [0, RETRY_AFTER_MAX_S]; None if absent or not a number (NaN included)."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return None if seconds != seconds else min(max(0.0, seconds), RETRY_AFTER_MAX_S)
