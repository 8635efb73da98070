"""python-binance (AsyncClient + BinanceSocketManager) reads the simulator without error: REST klines,
tickers and aggTrades, and the kline, 24hr ticker and aggTrade streams."""

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
        # The library's socket exit waits up to 10 s for a frame; the aggTrade stream keeps frames coming.
        async with manager.multiplex_socket(
            ["btcusdt@kline_1m", "ethusdt@ticker", "btcusdt@aggTrade"]
        ) as stream:
            await sim.advance_to(sim.now_ms() + 15_000)
            by_stream: dict[str, dict[str, object]] = {}
            while len(by_stream) < 3:
                msg = await stream.recv()
                by_stream[msg["stream"]] = msg["data"]
        async with manager.aggtrade_socket("BTCUSDT") as stream:
            live = await stream.recv()
        kline, tick = by_stream["btcusdt@kline_1m"], by_stream["ethusdt@ticker"]
        assert (kline["e"], kline["s"]) == ("kline", "BTCUSDT")
        assert (tick["e"], tick["s"]) == ("24hrTicker", "ETHUSDT")
        trades = await client.get_aggregate_trades(symbol="BTCUSDT", fromId=live["a"], limit=1)
        assert trades == [{k: live[k] for k in ("a", "p", "q", "f", "l", "T", "m", "M")}]
    finally:
        await client.close_connection()
