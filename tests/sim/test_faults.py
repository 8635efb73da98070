"""Fault injection on demand: drop, duplicate, out-of-order, malformed, shutdown, stall, REST errors."""

from __future__ import annotations

import json

import aiohttp
import pytest
import websockets

from cryptoradar.events import Market
from cryptoradar.sim import Fault, FaultKind, Simulator


async def test_drop_connections(sim: Simulator) -> None:
    async with websockets.connect(f"{sim.spot_ws_url}/ws/btcusdt@kline_1m") as ws:
        sim.inject(Fault(FaultKind.DROP_CONNECTIONS, market=Market.SPOT))
        with pytest.raises(websockets.ConnectionClosed):
            await ws.recv()
    assert sim.stats.faults["drop_connections"] == 1


async def test_duplicate_and_out_of_order_frames(sim: Simulator) -> None:
    async with websockets.connect(f"{sim.spot_ws_url}/ws/btcusdt@kline_1m") as ws:
        sim.inject(Fault(FaultKind.DUPLICATE_FRAMES, market=Market.SPOT, count=1))
        await sim.advance_to(sim.now_ms() + 15_000)
        first, second = await ws.recv(), await ws.recv()
        assert first == second
        sim.inject(Fault(FaultKind.OUT_OF_ORDER, market=Market.SPOT, count=1))
        await sim.advance_to(sim.now_ms() + 15_000)
        newer, older = json.loads(await ws.recv()), json.loads(await ws.recv())
        assert older["E"] < newer["E"]


async def test_malformed_frames_and_server_shutdown(sim: Simulator) -> None:
    async with websockets.connect(f"{sim.spot_ws_url}/stream?streams=btcusdt@kline_1m") as ws:
        sim.inject(Fault(FaultKind.MALFORMED_FRAMES, count=5))
        frames = [await ws.recv() for _ in range(5)]
        with pytest.raises(json.JSONDecodeError):
            json.loads(frames[0])
        assert "NaN" in frames[2]
        assert "-1.0" in frames[3]
        assert "nosuch@stream" in frames[4]
        sim.inject(Fault(FaultKind.SERVER_SHUTDOWN))
        msg = json.loads(await ws.recv())
        assert msg["stream"] == "!serverShutdown"
        assert msg["data"]["e"] == "serverShutdown"
    assert sim.stats.spot.faults == {"malformed_frames": 1, "server_shutdown": 1}


async def test_stalled_connection_stays_open_but_silent(sim: Simulator) -> None:
    async with websockets.connect(f"{sim.spot_ws_url}/ws/btcusdt@kline_1m") as ws:
        sim.inject(Fault(FaultKind.STALL, market=Market.SPOT))
        await sim.advance_to(sim.now_ms() + 60_000)
        await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 7}))
        assert json.loads(await ws.recv()) == {"result": ["btcusdt@kline_1m"], "id": 7}


async def test_rest_error_burst(sim: Simulator) -> None:
    sim.inject(Fault(FaultKind.REST_ERRORS, market=Market.USDM, count=2, status=503))
    async with aiohttp.ClientSession(sim.futures_rest_url) as http:
        statuses = []
        for _ in range(3):
            async with http.get("/fapi/v1/time") as r:
                statuses.append(r.status)
    assert statuses == [503, 503, 200]
