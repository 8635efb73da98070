"""Listing and delisting while running, and the per-IP connection-attempt limit."""

from __future__ import annotations

import json
from dataclasses import replace

import aiohttp
import pytest
import websockets

from cryptoradar.events import Market
from cryptoradar.sim import Fault, FaultKind, Simulator

from .conftest import MANUAL

M = 60_000


async def _symbols(http: aiohttp.ClientSession, url: str) -> dict[str, str]:
    async with http.get(url) as r:
        return {s["symbol"]: s["status"] for s in (await r.json())["symbols"]}


async def test_listing_shows_everywhere_and_trades_from_its_first_full_bar() -> None:
    async with Simulator(replace(MANUAL, spot_listings=1, futures_listings=1)) as sim:
        async with aiohttp.ClientSession() as http:
            before = await _symbols(http, f"{sim.spot_rest_url}/api/v3/exchangeInfo")
            futures_before = await _symbols(http, f"{sim.futures_rest_url}/fapi/v1/exchangeInfo")
            await sim.advance_to(sim.now_ms() + 20_000)  # list mid-bar
            name = sim.list_symbol(Market.SPOT)
            sim.inject(Fault(FaultKind.LIST_SYMBOL, market=Market.USDM))
            first_full_ms = sim.now_ms() // M * M + M
            after = await _symbols(http, f"{sim.spot_rest_url}/api/v3/exchangeInfo")
            futures = await _symbols(http, f"{sim.futures_rest_url}/fapi/v1/exchangeInfo")
            async with websockets.connect(f"{sim.spot_ws_url}/ws/{name.lower()}@kline_1m") as ws:
                await sim.advance_to(first_full_ms + 2 * M)
                first = json.loads(await ws.recv())
            async with http.get(
                f"{sim.spot_rest_url}/api/v3/klines", params={"symbol": name, "interval": "5m"}
            ) as r:
                five = await r.json()
        with pytest.raises(ValueError, match="no held-back"):
            sim.list_symbol(Market.SPOT)
    assert name not in before
    assert after[name] == "TRADING"
    assert name in sim.symbols
    assert sim.futures_symbols[-1] not in futures_before
    assert futures[sim.futures_symbols[-1]] == "TRADING"
    assert first["k"]["t"] == first_full_ms  # nothing for the partial bar it was listed in
    truth = sim.closed_bars(name, "1m")
    assert [row[0] for row in truth] == [first_full_ms, first_full_ms + M]
    assert all(row[7] > 0 for row in truth)  # it trades
    assert five[0][0] == first_full_ms // (5 * M) * (5 * M)  # the first 5m bar opens on its boundary


async def test_delisting_silences_streams_and_removal_leaves_exchange_info(sim: Simulator) -> None:
    async with (
        aiohttp.ClientSession() as http,
        websockets.connect(f"{sim.spot_ws_url}/ws/solusdt@kline_1m/xrpusdt@kline_1m") as ws,
    ):
        halt_bar_ms = sim.now_ms() // M * M
        sim.delist_symbol("SOLUSDT")
        sim.inject(Fault(FaultKind.DELIST_SYMBOL, market=Market.SPOT, symbol="XRPUSDT", remove=True))
        info = await _symbols(http, f"{sim.spot_rest_url}/api/v3/exchangeInfo")
        await sim.advance_to(sim.now_ms() + 2 * M)
        await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 1}))
        reply = json.loads(await ws.recv())  # no kline frame came before the reply
        async with http.get(
            f"{sim.spot_rest_url}/api/v3/klines", params={"symbol": "XRPUSDT", "interval": "1m"}
        ) as r:
            removed = await r.json()
        async with http.get(
            f"{sim.spot_rest_url}/api/v3/klines", params={"symbol": "SOLUSDT", "interval": "1m"}
        ) as r:
            halted = await r.json()
    assert info["SOLUSDT"] == "BREAK"
    assert "XRPUSDT" not in info
    assert reply == {"result": ["solusdt@kline_1m", "xrpusdt@kline_1m"], "id": 1}
    assert removed == {"code": -1121, "msg": "Invalid symbol."}
    assert halted[-1][0] == halt_bar_ms  # no bars after the halt
    assert sim.stats.spot.faults == {"delist_symbol": 2}


async def test_connection_attempts_over_the_limit_are_refused_and_counted() -> None:
    async with Simulator(replace(MANUAL, connect_attempts_limit=3, connect_window_wall_s=60.0)) as sim:
        for _ in range(3):
            async with websockets.connect(f"{sim.spot_ws_url}/ws/btcusdt@kline_1m"):
                pass
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(f"{sim.spot_ws_url}/ws/btcusdt@kline_1m")
        async with websockets.connect(f"{sim.futures_ws_url}/market/ws/btcusdt@kline_1m"):
            pass  # each market (host) has its own budget
    assert refused.value.response.status_code == 429
    assert sim.stats.spot.violations["connect_attempts"] == 1
    assert sim.stats.spot.connect_attempts == 4
    assert sim.stats.spot.connect_attempts_peak == 4
    assert sim.stats.futures.violations["connect_attempts"] == 0
