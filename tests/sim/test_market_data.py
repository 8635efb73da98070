"""REST aggTrades and the per-symbol 24hr ticker stream: shapes, parameters, weight, agreement with the stream."""

from __future__ import annotations

import json

import aiohttp
import websockets

from cryptoradar.sim import Simulator

SPOT_TICKER_KEYS = {"e", "E", "s", "p", "P", "w", "x", "c", "Q", "b", "B", "a", "A", "o", "h", "l", "v", "q", "O",
                    "C", "F", "L", "n"}  # fmt: skip
FUTURES_TICKER_KEYS = SPOT_TICKER_KEYS - {"x", "b", "B", "a", "A"}
REST_AGG_KEYS = ("a", "p", "q", "f", "l", "T", "m", "M")


async def test_agg_trades_rest_matches_the_stream_and_pages_by_id(sim: Simulator) -> None:
    streamed: list[dict[str, object]] = []
    async with websockets.connect(f"{sim.spot_ws_url}/ws/btcusdt@aggTrade") as ws:
        while len(streamed) < 6:
            await sim.advance_to(sim.now_ms() + 1_000)
            streamed.append(json.loads(await ws.recv()))
    async with aiohttp.ClientSession(sim.spot_rest_url) as http:
        first_id = streamed[0]["a"]
        async with http.get(
            "/api/v3/aggTrades", params={"symbol": "BTCUSDT", "fromId": str(first_id), "limit": "3"}
        ) as r:
            assert r.status == 200
            assert r.headers["X-MBX-USED-WEIGHT-1M"] == "4"
            page = await r.json()
        async with http.get("/api/v3/aggTrades", params={"symbol": "BTCUSDT"}) as r:
            newest = await r.json()
        start, end = streamed[1]["T"], streamed[4]["T"]
        async with http.get(
            "/api/v3/aggTrades", params={"symbol": "BTCUSDT", "startTime": str(start), "endTime": str(end)}
        ) as r:
            by_time = await r.json()
        errors = []
        for params in (
            {"symbol": "BTCUSDT", "fromId": "1", "startTime": "1"},
            {"symbol": "BTCUSDT", "startTime": "0", "endTime": str(3_600_001)},
            {"symbol": "BTCUSDT", "limit": "1001"},
        ):
            async with http.get("/api/v3/aggTrades", params=params) as r:
                assert r.status == 400
                errors.append((await r.json())["code"])
    assert [tuple(row) for row in page] == [REST_AGG_KEYS] * 3
    rest_view = [{k: s[k] for k in REST_AGG_KEYS} for s in streamed]
    assert page == rest_view[:3]
    at = newest.index(rest_view[0])  # trades made after the last one read may follow
    assert newest[at : at + len(rest_view)] == rest_view
    assert start <= by_time[0]["T"] <= by_time[-1]["T"] <= end
    assert rest_view[1] in by_time
    assert errors == [-1128, -1127, -1130]


async def test_futures_agg_trades_weigh_20_and_carry_nq(sim: Simulator) -> None:
    async with (
        aiohttp.ClientSession(sim.futures_rest_url) as http,
        http.get("/fapi/v1/aggTrades", params={"symbol": "ETHUSDT", "limit": "10"}) as r,
    ):
        assert r.headers["X-MBX-USED-WEIGHT-1M"] == "20"
        rows = await r.json()
    assert len(rows) == 1  # nobody subscribed: the latest trade, made on demand
    assert tuple(rows[0]) == ("a", "p", "q", "nq", "f", "l", "T", "m")


async def test_ticker_stream_shapes_on_spot_and_usdm_and_agree_with_rest(sim: Simulator) -> None:
    async with (
        websockets.connect(f"{sim.spot_ws_url}/stream?streams=ethusdt@ticker") as spot,
        websockets.connect(f"{sim.futures_ws_url}/market/ws/ethusdt@ticker") as futures,
    ):
        await sim.advance_to(sim.now_ms() + 2_000)
        spot_msg = json.loads(await spot.recv())
        futures_msg = json.loads(await futures.recv())
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{sim.spot_rest_url}/api/v3/ticker/24hr", params={"symbol": "ETHUSDT"}) as r,
        ):
            rest = await r.json()
    assert spot_msg["stream"] == "ethusdt@ticker"
    data = spot_msg["data"]
    assert set(data) == SPOT_TICKER_KEYS
    assert set(futures_msg) == FUTURES_TICKER_KEYS
    assert data["e"] == futures_msg["e"] == "24hrTicker"
    assert data["C"] - data["O"] == 86_400_000
    assert (data["c"], data["o"], data["q"], data["n"]) == (
        rest["lastPrice"],
        rest["openPrice"],
        rest["quoteVolume"],
        rest["count"],
    )
