"""ccxt (async) reads markets, klines and tickers from the simulator without error."""

from __future__ import annotations

import ccxt.async_support as ccxt

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
    finally:
        await exchange.close()
