"""ccxt (async) reads markets, klines, tickers and aggregate trades from the simulator without error."""

from __future__ import annotations

import ccxt.async_support as ccxt

from conftest import eventually
from cryptoradar.sim import Simulator


async def test_ccxt_markets_ohlcv_and_tickers(sim: Simulator) -> None:
    spot_api = f"{sim.spot_rest_url}/api/v3"
    exchange = ccxt.binance({
        "urls": {"api": {"public": spot_api, "private": spot_api, "v3": spot_api, "fapiPublic": f"{sim.futures_rest_url}/fapi/v1"}},
        "options": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False},
    })  # fmt: skip
    try:
        markets = await exchange.load_markets()
        assert "BTC/USDT" in markets
        ohlcv = await exchange.fetch_ohlcv("BTC/USDT", "1m", limit=5)
        truth = sim.closed_bars("BTCUSDT", "1m")[-4:]
        assert [row[0] for row in ohlcv[:-1]] == [t[0] for t in truth]
        assert [row[4] for row in ohlcv[:-1]] == [float(t[4]) for t in truth]
        ticker = await exchange.fetch_ticker("ETH/USDT")
        assert ticker["symbol"] == "ETH/USDT"
        assert ticker["last"] is not None
        first = await exchange.fetch_trades("BTC/USDT", limit=5)
        assert len(first) == 1  # the latest trade, even with no one subscribed to the stream
        trades: list[dict[str, object]] = []

        async def more_trades() -> bool:
            trades[:] = await exchange.fetch_trades("BTC/USDT", limit=5)
            return len(trades) == 5

        await eventually(more_trades, 10, "trades keep coming")
        assert all(t["symbol"] == "BTC/USDT" and t["price"] > 0 for t in trades)
        by_time = await exchange.fetch_trades("BTC/USDT", since=first[0]["timestamp"], limit=2)
        first_id = int(first[0]["id"])
        # oldest first, ids consecutive
        assert [t["id"] for t in by_time] == [str(first_id), str(first_id + 1)]
    finally:
        await exchange.close()
