"""WebSocket protocol over loopback with a real `websockets` client (aiohttp client where pongs must be withheld)."""

from __future__ import annotations

import asyncio
import itertools
import json

import aiohttp
import pytest
import websockets

from conftest import eventually
from cryptoradar.events import Market
from cryptoradar.sim import SimOptions, Simulator

from .conftest import MANUAL


async def _recv(ws: websockets.ClientConnection) -> dict[str, object]:
    return json.loads(await ws.recv(decode=True))  # type: ignore[no-any-return]


async def test_combined_kline_final_bar_matches_ground_truth(sim: Simulator) -> None:
    async with websockets.connect(f"{sim.spot_ws_url}/stream?streams=btcusdt@kline_1m") as ws:
        await sim.advance_to(sim.now_ms() + 60_000)
        finals = []
        while not finals:
            msg = await _recv(ws)
            assert msg["stream"] == "btcusdt@kline_1m"
            k = msg["data"]["k"]  # type: ignore[index]
            assert k["T"] == k["t"] + 59_999
            if k["x"]:
                finals.append(k)
    truth = sim.closed_bars("BTCUSDT", "1m")[-1]
    k = finals[0]
    assert (k["t"], k["o"], k["h"], k["l"], k["c"], k["v"], k["q"], k["n"], k["V"], k["Q"]) == truth


async def test_raw_stream_and_control_messages(sim: Simulator) -> None:
    async with websockets.connect(f"{sim.spot_ws_url}/ws/btcusdt@bookTicker") as ws:
        book = await _recv(ws)
        assert set(book) == {"u", "s", "b", "B", "a", "A"}  # no e/E on spot
        await ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["ethusdt@kline_1m"], "id": 1}))
        await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 2}))
        await ws.send(json.dumps({"method": "GET_PROPERTY", "params": ["combined"], "id": 3}))
        await ws.send(json.dumps({"method": "SET_PROPERTY", "params": ["combined", "yes"], "id": 4}))
        replies: dict[object, dict[str, object]] = {}
        while len(replies) < 4:
            msg = await _recv(ws)
            if "id" in msg:
                replies[msg["id"]] = msg
        assert replies[1] == {"result": None, "id": 1}
        assert replies[2]["result"] == ["btcusdt@bookTicker", "ethusdt@kline_1m"]
        assert replies[3]["result"] is False
        assert replies[4]["error"]["code"] == 1  # type: ignore[index]
        await ws.send("{not json")
        error = await _recv(ws)
        while "error" not in error:
            error = await _recv(ws)
        assert error["error"]["code"] == 3  # type: ignore[index]
    async with websockets.connect(f"{sim.spot_ws_url}/ws") as ws:
        await ws.send(json.dumps({"method": "FOO", "id": 5}))
        assert (await _recv(ws))["error"]["code"] == 2  # type: ignore[index]
    assert sim.stats.spot.subscribe_requests == 1


async def test_control_rate_violation_closes_1008_and_is_counted(sim: Simulator) -> None:
    async with websockets.connect(f"{sim.spot_ws_url}/ws") as ws:
        for i in range(7):
            await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await _drain(ws)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1008
    assert sim.stats.violations["control_rate"] == 1


async def test_stream_cap_violation_gets_code_4_and_1008() -> None:
    async with Simulator(SimOptions(**{**_manual(), "spot_stream_cap": 3})) as sim:
        async with websockets.connect(f"{sim.spot_ws_url}/ws") as ws:
            names = ["btcusdt@kline_1m", "ethusdt@kline_1m", "bnbusdt@kline_1m", "solusdt@kline_1m"]
            await ws.send(json.dumps({"method": "SUBSCRIBE", "params": names, "id": 9}))
            error = await _recv(ws)
            assert error == {"error": {"code": 4, "msg": "Too many subscriptions"}, "id": 9}
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1008
        assert sim.stats.violations["stream_cap"] == 1


async def test_futures_market_stream_on_public_route_is_acked_but_silent(sim: Simulator) -> None:
    async with (
        websockets.connect(f"{sim.futures_ws_url}/public/ws") as public,
        websockets.connect(f"{sim.futures_ws_url}/market/ws") as market,
    ):
        for ws in (public, market):
            await ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@kline_1m"], "id": 1}))
            assert await _recv(ws) == {"result": None, "id": 1}
        await sim.advance_to(sim.now_ms() + 60_000)
        msg = await _recv(market)
        assert msg["e"] == "kline"
        await public.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 2}))
        assert await _recv(public) == {"result": ["btcusdt@kline_1m"], "id": 2}  # nothing else arrived first
    assert sim.stats.futures.misrouted == 1


async def test_server_pings_and_silent_client_is_dropped() -> None:
    opts = SimOptions(**{**_manual(), "ping_interval_wall_s": 0.3, "pong_timeout_wall_s": 0.8})
    async with Simulator(opts) as sim, aiohttp.ClientSession() as http:
        async with websockets.connect(f"{sim.spot_ws_url}/ws/btcusdt@kline_1m") as answering:
            mute = await http.ws_connect(f"{sim.spot_ws_url}/ws/btcusdt@kline_1m", autoping=False)
            await eventually(lambda: sim.stats.violations["pong_timeout"] >= 1, 5.0, "mute client dropped")
            assert sim.stats.spot.pings_sent >= 3
            await answering.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 1}))
            assert (await _recv(answering))["id"] == 1  # the ponging client is still connected
            await mute.close()
        assert sim.stats.violations["pong_timeout"] == 1


async def _drain(ws: websockets.ClientConnection) -> None:
    while True:
        await ws.recv()


def _manual() -> dict[str, object]:
    return {f: getattr(MANUAL, f) for f in MANUAL.__dataclass_fields__}


async def test_open_klines_are_pushed_every_two_seconds_at_real_time() -> None:
    """Binance's cadence: an open kline every 2 s of exchange time, the final one at the close."""
    options = SimOptions(seed=3, acceleration=1.0, history_bars=60, symbols=5, futures_symbols=2)
    async with Simulator(options) as sim, websockets.connect(f"{sim.spot_ws_url}/ws/btcusdt@kline_1m") as ws:
        times: list[int] = []
        async with asyncio.timeout(20):
            while len(times) < 5:
                msg = await _recv(ws)
                if not msg["k"]["x"]:  # type: ignore[index]
                    times.append(msg["E"])  # type: ignore[arg-type]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # A push rides the simulator's tick: 2 s plus at most one tick of lateness.
    assert all(2_000 <= gap <= 2_600 for gap in gaps), gaps


async def test_spot_trade_stream_carries_the_trades_rest_serves() -> None:
    options = SimOptions(seed=3, acceleration=1.0, history_bars=60, symbols=5, futures_symbols=2)
    async with Simulator(options) as sim, websockets.connect(f"{sim.spot_ws_url}/ws/btcusdt@trade") as ws:
        async with asyncio.timeout(20):
            trade = await _recv(ws)
        assert set(trade) == {"e", "E", "s", "t", "p", "q", "T", "m", "M"}
        assert (trade["e"], trade["s"]) == ("trade", "BTCUSDT")
        url = f"{sim.spot_rest_url}/api/v3/trades"
        async with aiohttp.ClientSession() as http, http.get(url, params={"symbol": "BTCUSDT"}) as r:
            recent = await r.json()
        assert trade["t"] in {t["id"] for t in recent}


async def test_continuous_kline_carries_the_perpetuals_bars_by_pair(sim: Simulator) -> None:
    url = f"{sim.futures_ws_url}/market/ws/btcusdt_perpetual@continuousKline_1m"
    async with websockets.connect(url) as ws:
        await sim.advance_to(sim.now_ms() + 60_000)
        async with asyncio.timeout(10):
            event = await _recv(ws)
            while not event["k"]["x"]:  # type: ignore[index]
                event = await _recv(ws)
    assert (event["e"], event["ps"], event["ct"]) == ("continuous_kline", "BTCUSDT", "PERPETUAL")
    k = event["k"]
    assert "s" not in k  # type: ignore[operator]
    truth = sim.closed_bars("BTCUSDT", "1m", market=Market.USDM)[-1]
    assert (k["t"], k["o"], k["h"], k["l"], k["c"]) == truth[:5]  # type: ignore[index]
