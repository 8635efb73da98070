"""StreamPool against a real WebSocket server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from fake_binance_ws import FakeBinanceWs, ServerConn

from conftest import eventually
from cryptoradar.core.clock import SystemClock
from cryptoradar.events import ConnectionState, Event, FeedStatus, Market
from cryptoradar.sources.base import TokenBucket
from cryptoradar.sources.binance.pool import (
    MAX_NAMES_PER_MESSAGE,
    PoolSettings,
    Route,
    StreamPool,
    control_batches,
    route_for,
    stream_url,
)


class Collected:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self.status: list[FeedStatus] = []

    async def sink(self, events: list[Event]) -> None:
        self.events.extend(events)


def make_pool(
    server: FakeBinanceWs, got: Collected, market: Market = Market.SPOT, **overrides: float
) -> StreamPool:
    settings = PoolSettings(
        market=market,
        ws_url=server.url,
        streams_per_connection=int(overrides.get("streams_per_connection", 200)),
        control_messages_per_s=overrides.get("control_messages_per_s", 4.0),
        stale_after_s=overrides.get("stale_after_s", 30.0),
        max_connection_age_s=overrides.get("max_connection_age_s", 3600.0),
        backoff_initial_s=0.05,
        backoff_max_s=0.2,
    )
    return StreamPool(
        settings,
        clock=SystemClock(),
        connect_limiter=TokenBucket(rate_per_s=50, burst=20),
        sink=got.sink,
        publish_status=got.status.append,
    )


@pytest.fixture
async def server() -> AsyncIterator[FakeBinanceWs]:
    async with FakeBinanceWs() as srv:
        yield srv


def kline_streams(n: int) -> list[str]:
    return [f"s{i:04d}usdt@kline_1m" for i in range(n)]


def test_route_table_never_puts_market_streams_on_public() -> None:
    assert route_for(Market.USDM, "btcusdt@bookTicker") is Route.PUBLIC
    assert route_for(Market.USDM, "btcusdt@depth@100ms") is Route.PUBLIC
    for name in (
        "btcusdt@aggTrade",
        "btcusdt@kline_1m",
        "!forceOrder@arr",
        "btcusdt@markPrice@1s",
        "!markPrice@arr",
        "!miniTicker@arr",
        "btcusdt@forceOrder",
    ):
        assert route_for(Market.USDM, name) is Route.MARKET, name
    assert route_for(Market.SPOT, "btcusdt@bookTicker") is Route.SPOT
    assert stream_url("wss://fstream.binance.com", Route.MARKET) == "wss://fstream.binance.com/market/stream"
    assert stream_url("wss://x/", Route.SPOT) == "wss://x/stream"


def test_control_batches_respect_count_and_size() -> None:
    names = [f"{'a' * 40}{i}@kline_1m" for i in range(1000)]
    batches = control_batches(names)
    assert sum(len(b) for b in batches) == 1000
    assert all(len(b) <= MAX_NAMES_PER_MESSAGE for b in batches)
    assert all(len(json.dumps(b, separators=(",", ":"))) < 8000 for b in batches)


async def test_1500_streams_spread_under_the_cap_and_paced(server: FakeBinanceWs) -> None:
    got = Collected()
    pool = make_pool(server, got, streams_per_connection=200, control_messages_per_s=4.0)
    names = kline_streams(1500)
    pool.set_streams(names)
    await pool.start()
    try:
        await eventually(
            lambda: sum(len(c.streams) for c in server.open_conns()) == 1500, 10, "all subscribed"
        )
        assert len(server.open_conns()) == 8
        assert all(len(c.streams) <= 200 for c in server.open_conns())
        assert all(c.path == "/stream" for c in server.conns)
        await eventually(lambda: len(got.events) > 1500, 5, "events flow")
        # live change: drop 300, add 100
        pool.set_streams(names[300:] + [f"x{i}usdt@kline_5m" for i in range(100)])
        await eventually(
            lambda: {s for c in server.open_conns() for s in c.streams} == pool.streams, 10, "live diff"
        )
        assert server.max_control_per_s() <= 4
        assert all(i.state is ConnectionState.CONNECTED for i in pool.info())
    finally:
        await pool.stop()
    assert all(s.state is not ConnectionState.FAILED for s in got.status)


async def test_futures_routes_are_separate_connections(server: FakeBinanceWs) -> None:
    got = Collected()
    pool = make_pool(server, got, market=Market.USDM)
    pool.set_streams(["btcusdt@bookTicker", "btcusdt@aggTrade", "!forceOrder@arr", "ethusdt@bookTicker"])
    await pool.start()
    try:
        await eventually(lambda: sum(len(c.streams) for c in server.open_conns()) == 4, 5, "subscribed")
        for path, params in server.subscribe_log:
            expected = {route_for(Market.USDM, p).value for p in params}
            assert expected == {path.split("/")[1]}, (path, params)
    finally:
        await pool.stop()


async def test_silent_stream_forces_reconnect_and_resubscribe(server: FakeBinanceWs) -> None:
    got = Collected()
    pool = make_pool(server, got, stale_after_s=0.4)
    pool.set_streams(kline_streams(3))
    await pool.start()
    try:
        await eventually(lambda: len(server.open_conns()) == 1 and len(server.open_conns()[0].streams) == 3)
        server.silenced.add("s0001usdt@kline_1m")
        await eventually(
            lambda: any(s.state is ConnectionState.RECONNECTING and "stale" in s.reason for s in got.status),
            5,
            "stale reconnect",
        )
        server.silenced.clear()
        await eventually(lambda: pool.info()[0].state is ConnectionState.CONNECTED and len(server.conns) >= 2)
        await eventually(lambda: len(server.open_conns()) == 1 and len(server.open_conns()[0].streams) == 3)
    finally:
        await pool.stop()


async def test_server_shutdown_replaces_make_before_break(server: FakeBinanceWs) -> None:
    got = Collected()
    pool = make_pool(server, got)
    pool.set_streams(kline_streams(5))
    await pool.start()
    try:
        await eventually(lambda: len(server.open_conns()) == 1 and len(server.open_conns()[0].streams) == 5)
        old = server.open_conns()[0]
        await server.shutdown_notice()
        await eventually(lambda: old.closed_s is not None, 5, "old connection closed")
        new = [c for c in server.conns if c is not old]
        assert len(new) == 1
        # the new connection was open and fully subscribed before the old one closed
        assert_made_before_break(old, new[0], 5)
        assert pool.replacements_done == 1
        assert len(pool.connections) == 1
    finally:
        await pool.stop()


def assert_made_before_break(old: ServerConn, new: ServerConn, streams: int) -> None:
    assert old.closed_s is not None
    assert new.subscribed_s is not None
    assert new.subscribed_s < old.closed_s, "the successor carried every stream before the old one closed"
    assert len(new.streams) == streams


async def test_connection_age_triggers_replacement(server: FakeBinanceWs) -> None:
    got = Collected()
    pool = make_pool(server, got, max_connection_age_s=0.5)
    pool.set_streams(kline_streams(2))
    await pool.start()
    try:
        await eventually(lambda: pool.replacements_done >= 2, 10, "two age replacements")
        await eventually(lambda: len(server.open_conns()) == 1)
        retired = [c for c in server.conns if c.closed_s is not None]
        successors = server.conns[1 : len(retired) + 1]
        for old, new in zip(retired, successors, strict=True):
            assert_made_before_break(old, new, 2)
        # Replacement is not a failure: no connection ever left CONNECTED for RECONNECTING.
        assert not [s for s in got.status if s.state is ConnectionState.RECONNECTING]
    finally:
        await pool.stop()


async def test_unreachable_server_keeps_retrying_and_says_so() -> None:
    got = Collected()
    settings = PoolSettings(
        market=Market.SPOT,
        ws_url="ws://127.0.0.1:9",
        streams_per_connection=10,
        control_messages_per_s=3,
        stale_after_s=5,
        max_connection_age_s=60,
        backoff_initial_s=0.01,
        backoff_max_s=0.02,
        fail_after_attempts=3,
    )
    pool = StreamPool(
        settings,
        clock=SystemClock(),
        connect_limiter=TokenBucket(100, 10),
        sink=got.sink,
        publish_status=got.status.append,
    )
    pool.set_streams(["btcusdt@kline_1m"])
    await pool.start()
    try:
        await eventually(lambda: any(s.state is ConnectionState.FAILED for s in got.status), 5, "FAILED")
        failed = next(s for s in got.status if s.state is ConnectionState.FAILED)
        assert "Binance unreachable" in failed.reason
        assert failed.level == "operator"
        n = len(got.status)
        await eventually(lambda: len(got.status) > n + 2, 5, "still retrying")
    finally:
        await pool.stop()
    await asyncio.sleep(0)
