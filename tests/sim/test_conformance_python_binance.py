"""python-binance (AsyncClient + BinanceSocketManager) reads the simulator without error."""

from __future__ import annotations

import binance

from cryptoradar.sim import Simulator


async def test_python_binance_rest_and_websocket(sim: Simulator) -> None:
    client = binance.AsyncClient()
    client.API_URL = f"{sim.spot_rest_url}/api"
    client.FUTURES_URL = f"{sim.futures_rest_url}/fapi"
    try:
        await client.ping()
        info = await client.get_exchange_info()
        assert len(info["symbols"]) == len(sim.symbols)
        klines = await client.get_klines(symbol="BTCUSDT", interval="1m", limit=10)
        assert [tuple(k[:6]) for k in klines[:-1]] == [t[:6] for t in sim.closed_bars("BTCUSDT", "1m")[-9:]]
        ticker = await client.get_ticker(symbol="ETHUSDT")
        assert ticker["symbol"] == "ETHUSDT"
        fut = await client.futures_klines(symbol="BTCUSDT", interval="1m", limit=5)
        assert len(fut) == 5
        manager = binance.BinanceSocketManager(client)
        manager.STREAM_URL = f"{sim.spot_ws_url}/"
        async with manager.kline_socket("BTCUSDT") as stream:
            await sim.advance_to(sim.now_ms() + 15_000)
            msg = await stream.recv()
        assert msg["e"] == "kline"
        assert msg["k"]["s"] == "BTCUSDT"
    finally:
        await client.close_connection()
