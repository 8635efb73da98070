"""BinanceRest against a real aiohttp server on 127.0.0.1: weight budget, 429, 418, breaker, paging."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from conftest import eventually
from cryptoradar.core.clock import ManualClock
from cryptoradar.core.errors import PermanentError, RetryableError
from cryptoradar.events import FeedStatus, Market, StatusLevel
from cryptoradar.sources.binance.rest import (
    RETRY_AFTER_MAX_S,
    BinanceRest,
    BreakerState,
    Endpoint,
    RestSettings,
    ServerClock,
    futures_klines_limit,
    request_weight,
)

T0_MS = 1_767_225_600_000
M = 60_000


@dataclass
class Script:
    """What the fake server answers: a queue of forced statuses, then klines rows from 'history'."""

    clock: ManualClock
    forced: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    hits: list[tuple[str, dict[str, str], float]] = field(default_factory=list)
    """(path, query, wall time s at arrival)."""
    weight_by_minute: dict[int, int] = field(default_factory=dict)

    def now_ms(self) -> int:
        return self.clock.now_ns() // 1_000_000


def make_app(script: Script) -> web.Application:
    async def handle(request: web.Request) -> web.Response:
        now = script.now_ms()
        query = dict(request.query)
        script.hits.append((request.path, query, time.monotonic()))
        endpoint = Endpoint(request.path.rsplit("/", 1)[1] if "ticker" not in request.path else "ticker/24hr")
        weight = request_weight(Market.SPOT, endpoint, query)
        minute = now // M
        script.weight_by_minute[minute] = script.weight_by_minute.get(minute, 0) + weight
        headers = {"X-MBX-USED-WEIGHT-1M": str(script.weight_by_minute[minute])}
        if script.forced:
            status, extra = script.forced.pop(0)
            return web.Response(status=status, headers={**headers, **extra}, text='{"code":-1003}')
        if endpoint is Endpoint.EXCHANGE_INFO:
            return web.json_response({"symbols": [], "serverTime": now}, headers=headers)
        if endpoint is Endpoint.TIME:
            return web.json_response({"serverTime": now + 5000}, headers=headers)
        start = int(query.get("startTime", T0_MS))
        end = int(query.get("endTime", now))
        limit = int(query["limit"])
        rows = []
        t = -(-start // M) * M
        while t <= end and len(rows) < limit and t < now:
            rows.append([t, "1", "2", "0.5", "1.5", "10", t + M - 1, "15", 3, "5", "7.5", "0"])
            t += M
        return web.Response(body=json.dumps(rows), headers=headers, content_type="application/json")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    return app


@pytest.fixture
async def env() -> AsyncIterator[tuple[Script, Callable[..., BinanceRest], list[FeedStatus]]]:
    clock = ManualClock(T0_MS * 1_000_000 + 10 * M * 1_000_000)
    script = Script(clock)
    runner = web.AppRunner(make_app(script))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    statuses: list[FeedStatus] = []
    clients: list[BinanceRest] = []

    def client(budget: int = 6000, **kw: float) -> BinanceRest:
        settings = RestSettings(Market.SPOT, f"http://127.0.0.1:{port}", budget, **kw)  # type: ignore[arg-type]
        c = BinanceRest(settings, clock, statuses.append)
        clients.append(c)
        return c

    yield script, client, statuses
    for c in clients:
        await c.close()
    await runner.cleanup()


def test_weights_follow_the_fact_sheet() -> None:
    assert request_weight(Market.SPOT, Endpoint.KLINES, {"limit": "1000"}) == 2
    assert [
        request_weight(Market.USDM, Endpoint.KLINES, {"limit": str(n)})
        for n in (99, 100, 499, 500, 1000, 1500)
    ] == [1, 2, 2, 5, 5, 10]
    assert request_weight(Market.SPOT, Endpoint.EXCHANGE_INFO, {}) == 20
    assert request_weight(Market.USDM, Endpoint.EXCHANGE_INFO, {}) == 1
    assert request_weight(Market.SPOT, Endpoint.TICKER_24H, {}) == 80
    assert request_weight(Market.USDM, Endpoint.TICKER_24H, {}) == 40
    assert request_weight(Market.USDM, Endpoint.PREMIUM_INDEX, {}) == 10
    assert futures_klines_limit(2) == 99
    assert futures_klines_limit(300) == 499
    assert futures_klines_limit(999) == 1000


async def test_time_sync_and_klines_paging(
    env: tuple[Script, Callable[..., BinanceRest], list[FeedStatus]],
) -> None:
    script, client, _ = env
    async with client() as rest:
        assert await rest.sync_time() == 5000
        bars = await rest.klines_range("BTCUSDT", "1m", T0_MS - 2500 * M, T0_MS)
    assert len(bars) == 2501
    opens = [b.open_time_ms for b in bars]
    assert opens == sorted(set(opens))
    assert [q["limit"] for _, q, _ in script.hits[1:]] == ["1000", "1000", "1000"]


async def test_budget_is_never_exceeded_and_waits_for_next_minute(
    env: tuple[Script, Callable[..., BinanceRest], list[FeedStatus]],
) -> None:
    import asyncio

    script, client, _ = env
    async with client(budget=10) as rest:
        tasks = [asyncio.create_task(rest.klines("BTCUSDT", "1m", limit=5)) for _ in range(8)]
        await eventually(lambda: len(script.hits) == 5, 5, "first five requests")
        await asyncio.sleep(0.2)
        assert len(script.hits) == 5  # the budget (10 = 5 x weight 2) is spent for this minute
        script.clock.advance(M * 1_000_000)
        await asyncio.gather(*tasks)
    assert len(script.hits) == 8
    assert max(script.weight_by_minute.values()) <= 10


async def test_429_makes_the_next_request_wait_retry_after(
    env: tuple[Script, Callable[..., BinanceRest], list[FeedStatus]],
) -> None:
    import asyncio

    script, client, _ = env
    script.forced.append((429, {"Retry-After": "0.5"}))
    async with client() as rest:
        first = asyncio.create_task(rest.klines("BTCUSDT", "1m", limit=5))
        await eventually(lambda: len(script.hits) == 1)
        other = asyncio.create_task(rest.exchange_info())  # a different request waits as well
        assert await first
        assert await other
    assert len(script.hits) == 3
    assert min(t for _, _, t in script.hits[1:]) - script.hits[0][2] >= 0.5


async def test_418_stops_all_rest_and_tells_the_operator(
    env: tuple[Script, Callable[..., BinanceRest], list[FeedStatus]],
) -> None:
    script, client, statuses = env
    script.forced.append((418, {"Retry-After": "0.6"}))
    async with client() as rest:
        with pytest.raises(RetryableError) as err:
            await rest.klines("BTCUSDT", "1m", limit=5)
        assert err.value.retry_after_s == 0.6
        for _ in range(3):
            with pytest.raises(RetryableError):
                await rest.exchange_info()
        assert len(script.hits) == 1  # nothing reached the server during the ban
        assert [s.level for s in statuses] == [StatusLevel.OPERATOR]
        assert "418" in statuses[0].reason
        # The ban runs from when the client saw the 418, which is later than when the server sent it.
        loop = asyncio.get_running_loop()
        assert rest.banned_until_s - loop.time() <= 0.6
        await eventually(lambda: loop.time() >= rest.banned_until_s, 2, "ban over")
        assert await rest.klines("BTCUSDT", "1m", limit=5)
    assert len(script.hits) == 2


@pytest.mark.parametrize("status", [418, 429])
async def test_a_huge_retry_after_is_capped_and_the_long_pause_tells_the_operator(
    env: tuple[Script, Callable[..., BinanceRest], list[FeedStatus]], status: int
) -> None:
    script, client, statuses = env
    script.forced.append((status, {"Retry-After": "1e9"}))
    async with client(max_attempts=1) as rest:
        with pytest.raises(RetryableError) as err:
            await rest.klines("BTCUSDT", "1m", limit=5)
        assert err.value.retry_after_s == RETRY_AFTER_MAX_S
        paused_until_s = max(rest.banned_until_s, rest.blocked_until_s)
        assert 0 < paused_until_s - asyncio.get_running_loop().time() <= RETRY_AFTER_MAX_S
    assert [s.level for s in statuses] == [StatusLevel.OPERATOR]
    assert f"({status}): all REST paused for 300 s" in statuses[0].reason


async def test_a_short_429_pause_is_no_operator_matter(
    env: tuple[Script, Callable[..., BinanceRest], list[FeedStatus]],
) -> None:
    script, client, statuses = env
    script.forced.append((429, {"Retry-After": "nan"}))
    async with client() as rest:
        assert await rest.klines("BTCUSDT", "1m", limit=5)  # NaN is no number: the default 1 s wait
    assert statuses == []


async def test_breaker_opens_after_repeated_5xx_and_half_opens(
    env: tuple[Script, Callable[..., BinanceRest], list[FeedStatus]],
) -> None:
    import asyncio

    script, client, _ = env
    script.forced.extend([(503, {})] * 10)
    async with client(breaker_failures=3, breaker_cooldown_s=0.3, max_attempts=1) as rest:
        for _ in range(3):
            with pytest.raises(RetryableError):
                await rest.klines("BTCUSDT", "1m", limit=5)
        assert rest.breaker.state is BreakerState.OPEN
        with pytest.raises(RetryableError, match="circuit open"):
            await rest.klines("BTCUSDT", "1m", limit=5)
        assert len(script.hits) == 3
        await asyncio.sleep(0.35)
        script.forced.clear()
        assert await rest.klines("BTCUSDT", "1m", limit=5)  # the half-open probe succeeds
        assert rest.breaker.state is BreakerState.CLOSED


async def test_client_errors_are_permanent(
    env: tuple[Script, Callable[..., BinanceRest], list[FeedStatus]],
) -> None:
    script, client, _ = env
    script.forced.append((400, {}))
    async with client() as rest:
        with pytest.raises(PermanentError):
            await rest.klines("NOPE", "1m", limit=5)
        with pytest.raises(PermanentError):
            await rest.premium_index()


def test_server_clock_never_runs_behind_what_the_exchange_stamped() -> None:
    local = ManualClock(1_000 * 1_000_000)
    server = ServerClock(local)
    server.update(server_time_ms=5_000, sent_local_ms=1_000, recv_local_ms=1_000)
    assert server.now_ms() == 5_000
    server.observe_event_ms(4_000)  # an older stamp changes nothing
    assert server.now_ms() == 5_000
    server.observe_event_ms(65_000)  # the exchange is a minute ahead of our estimate
    assert server.now_ms() == 65_000
    local.advance(70_000 * 1_000_000)  # our estimate overtakes the stamp again
    assert server.now_ms() == 75_000
