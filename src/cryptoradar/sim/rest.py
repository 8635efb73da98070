"""The REST side of one simulated market (aiohttp): endpoints, request weight, 429/418, injected errors.

Weight is counted in fixed minutes of the *exchange* clock (at 60x acceleration a window lasts one wall
second), matching Binance's fixed-minute counters on the clock the client sees in every timestamp.
`Retry-After` is given in wall seconds (what a client should actually sleep), at least 1.
Every response carries `X-MBX-USED-WEIGHT-1M` and `X-MBX-USED-WEIGHT` except fundingRate, which on Binance
lives in a separate bucket and sends no weight header.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Awaitable, Callable

import msgspec
from aiohttp import web

from cryptoradar.events import Market
from cryptoradar.sim import wire
from cryptoradar.sim.options import SUPPORTED_INTERVALS_MS
from cryptoradar.sim.stats import MarketStats

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
WeightFn = Callable[[web.Request], int]


class ApiError(Exception):
    """A Binance-style error reply: `{"code": code, "msg": msg}` with HTTP `status`."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(msg)
        self.code, self.msg, self.status = code, msg, status


def json_response(body: object) -> web.Response:
    return web.Response(body=msgspec.json.encode(body), content_type="application/json")


def _error(status: int, code: int, msg: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, body=wire.api_error(code, msg), content_type="application/json", headers=headers
    )


class RestGate:
    """Weight accounting, rate limiting and injected REST failures, as an aiohttp middleware."""

    def __init__(self, market: Market, stats: MarketStats, weight_limit_1m: int, requests_after_429_before_ban: int,
                 ban_exchange_s: float, acceleration: float, now_ms: Callable[[], int]) -> None:  # fmt: skip
        self._market = market
        self._stats = stats
        self._limit = weight_limit_1m
        self._after_429 = requests_after_429_before_ban
        self._ban_ms = int(ban_exchange_s * 1000)
        self._acceleration = acceleration
        self._now_ms = now_ms
        self._weights: dict[str, WeightFn] = {}
        self._no_header: set[str] = set()
        self._rejected_minute = -1
        self._rejected = 0
        self._banned_until_ms = 0
        self.forced: deque[tuple[int, str]] = deque()
        """(HTTP status, Retry-After) to answer the next requests with (REST_ERRORS fault), oldest first."""
        self.broken_exchange_info = 0
        """exchangeInfo requests still to answer with a truncated body (BROKEN_EXCHANGE_INFO fault)."""

    def route(
        self, app: web.Application, path: str, handler: Handler, weight: WeightFn, header: bool = True
    ) -> None:
        app.router.add_get(path, handler)
        self._weights[path] = weight
        if not header:
            self._no_header.add(path)

    def _wall_seconds_until(self, exchange_ms: int) -> str:
        delta_s = max(0, exchange_ms - self._now_ms()) / 1000.0
        wall_s = delta_s / self._acceleration if self._acceleration > 0 else delta_s
        return str(max(1, math.ceil(wall_s)))

    def _count(self, status: int) -> None:
        self._stats.rest_by_status[status] = self._stats.rest_by_status.get(status, 0) + 1

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        weight_fn = self._weights.get(request.path)
        if weight_fn is None:
            return await handler(request)
        self._stats.rest_requests += 1
        refusal = self._refusal(request, weight_fn)
        response: web.StreamResponse
        if refusal is not None:
            response = refusal
        else:
            try:
                response = await handler(request)
            except ApiError as e:
                response = _error(e.status, e.code, e.msg)
        self._count(response.status)
        if request.path not in self._no_header:
            used = str(self._stats.rest_weight_by_minute.get(self._now_ms() // 60_000 * 60_000, 0))
            response.headers["X-MBX-USED-WEIGHT-1M"] = used
            response.headers["X-MBX-USED-WEIGHT"] = used
        return response

    def _refusal(self, request: web.Request, weight_fn: WeightFn) -> web.Response | None:
        """The error response this request gets instead of an answer, or None (weight then charged)."""
        now = self._now_ms()
        minute = now // 60_000 * 60_000
        if self.broken_exchange_info and request.path.endswith("/exchangeInfo"):
            self.broken_exchange_info -= 1
            return web.Response(
                status=200, body=b'{"symbols":[{"symbol":"BTC', content_type="application/json"
            )
        if self.forced:
            status, retry_after = self.forced.popleft()
            headers = {"Retry-After": retry_after} if status in (418, 429) else None
            return _error(status, -1003 if status in (418, 429) else -1001, "Injected failure.", headers)
        if now < self._banned_until_ms:
            retry = self._wall_seconds_until(self._banned_until_ms)
            return _error(
                418,
                -1003,
                f"Way too many requests; IP banned until {self._banned_until_ms}.",
                {"Retry-After": retry},
            )
        try:
            weight = weight_fn(request)
        except ApiError as e:
            return _error(e.status, e.code, e.msg)
        used = self._stats.rest_weight_by_minute.get(minute, 0)
        if used + weight > self._limit:
            if self._rejected_minute != minute:
                self._rejected_minute, self._rejected = minute, 0
            self._rejected += 1
            if self._rejected > self._after_429:
                self._banned_until_ms = now + self._ban_ms
                retry = self._wall_seconds_until(self._banned_until_ms)
                return _error(
                    418,
                    -1003,
                    f"Way too many requests; IP banned until {self._banned_until_ms}.",
                    {"Retry-After": retry},
                )
            msg = f"Too much request weight used; current limit is {self._limit} request weight per 1 MINUTE."
            return _error(429, -1003, msg, {"Retry-After": self._wall_seconds_until(minute + 60_000)})
        self._stats.rest_weight_by_minute[minute] = used + weight
        self._stats.rest_weight_peak_1m = max(self._stats.rest_weight_peak_1m, used + weight)
        return None


# -- parameter parsing shared by both markets ---------------------------------------------------------------


def param_int(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError as e:
        raise ApiError(
            -1100, f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'."
        ) from e


def param_symbol(request: web.Request, symbols: dict[str, int]) -> int:
    raw = request.query.get("symbol")
    if not raw:
        raise ApiError(-1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
    j = symbols.get(raw)
    if j is None:
        raise ApiError(-1121, "Invalid symbol.")
    return j


def param_symbols(request: web.Request, symbols: dict[str, int]) -> list[int] | None:
    """`symbol` or the JSON array `symbols`, as indexes; None when neither was sent."""
    if request.query.get("symbol"):
        return [param_symbol(request, symbols)]
    raw = request.query.get("symbols")
    if not raw:
        return None
    try:
        names = msgspec.json.decode(raw, type=list[str])
    except msgspec.DecodeError as e:
        raise ApiError(-1100, "Illegal characters found in parameter 'symbols'.") from e
    out = [symbols.get(n) for n in names]
    if any(j is None for j in out):
        raise ApiError(-1121, "Invalid symbol.")
    return [j for j in out if j is not None]


def param_interval(request: web.Request, allowed: tuple[str, ...]) -> str:
    raw = request.query.get("interval")
    if not raw:
        raise ApiError(-1102, "Mandatory parameter 'interval' was not sent, was empty/null, or malformed.")
    if raw not in allowed or raw not in SUPPORTED_INTERVALS_MS:
        raise ApiError(-1120, "Invalid interval.")
    return raw


def param_limit(request: web.Request, default: int, maximum: int) -> int:
    limit = param_int(request, "limit")
    if limit is None:
        return default
    if limit < 1 or limit > maximum:
        raise ApiError(-1130, "Data sent for parameter 'limit' is not valid.")
    return limit


def kline_window(
    start_ms: int | None, end_ms: int | None, limit: int, interval_ms: int, now_ms: int
) -> tuple[int, int, bool]:
    """(start, end, take_last) of a klines query: Binance returns the oldest bars from `startTime`,
    otherwise the newest ones up to `endTime` (or now)."""
    if start_ms is not None:
        end = end_ms if end_ms is not None else start_ms + limit * interval_ms
        return start_ms, min(end, now_ms), False
    end = min(end_ms if end_ms is not None else now_ms, now_ms)
    return end - limit * interval_ms, end, True
