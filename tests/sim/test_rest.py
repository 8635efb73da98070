"""REST over loopback with aiohttp: weights, headers, errors, 429 -> 418, klines paging vs ground truth."""

from __future__ import annotations

from typing import Any

import aiohttp

from cryptoradar.sim import SimOptions, Simulator

from .conftest import MANUAL


async def test_klines_paging_agrees_with_ground_truth(sim: Simulator) -> None:
    truth = sim.closed_bars("ETHUSDT", "1m")
    got: list[list[object]] = []
    async with aiohttp.ClientSession(sim.spot_rest_url) as http:
        start = truth[0][0]
        while True:
            async with http.get(
                "/api/v3/klines",
                params={"symbol": "ETHUSDT", "interval": "1m", "startTime": str(start), "limit": "50"},
            ) as r:
                assert r.status == 200
                assert r.headers["X-MBX-USED-WEIGHT-1M"].isdigit()
                page = await r.json()
            got += page
            if len(page) < 50:
                break
            start = page[-1][0] + 60_000
    closed = [row for row in got if row[6] < sim.now_ms()]
    in_progress = [row for row in got if row[6] >= sim.now_ms()]
    assert len(in_progress) == 1
    assert [(r[0], r[1], r[2], r[3], r[4], r[5], r[7], r[8], r[9], r[10]) for r in closed] == truth
    assert all(r[6] == r[0] + 59_999 for r in got)


async def test_weights_and_binance_errors(sim: Simulator) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{sim.spot_rest_url}/api/v3/exchangeInfo") as r:
            info = await r.json()
            assert r.headers["X-MBX-USED-WEIGHT-1M"] == "20"
        assert {s["status"] for s in info["symbols"]} > {"TRADING"}
        async with http.get(
            f"{sim.spot_rest_url}/api/v3/klines", params={"symbol": "NOPE", "interval": "1m"}
        ) as r:
            assert r.status == 400
            assert await r.json() == {"code": -1121, "msg": "Invalid symbol."}
        async with http.get(
            f"{sim.futures_rest_url}/fapi/v1/klines",
            params={"symbol": "BTCUSDT", "interval": "1m", "limit": "1501"},
        ) as r:
            assert (await r.json())["code"] == -1130
        async with http.get(
            f"{sim.futures_rest_url}/fapi/v1/klines",
            params={"symbol": "BTCUSDT", "interval": "1m", "limit": "100"},
        ) as r:
            assert len(await r.json()) == 100
            assert (
                r.headers["X-MBX-USED-WEIGHT-1M"] == "11"
            )  # the refused limit=1501 band (10) is still charged
    assert sim.stats.spot.rest_weight_peak_1m == 22


async def test_over_the_limit_gets_429_then_418() -> None:
    opts = SimOptions(**{**{f: getattr(MANUAL, f) for f in MANUAL.__dataclass_fields__}, "spot_weight_limit_1m": 50,
                         "requests_after_429_before_ban": 2})  # fmt: skip
    async with Simulator(opts) as sim, aiohttp.ClientSession(sim.spot_rest_url) as http:
        statuses = []
        for _ in range(5):
            async with http.get("/api/v3/exchangeInfo") as r:
                statuses.append(r.status)
                if r.status in (418, 429):
                    assert int(r.headers["Retry-After"]) >= 1
        assert statuses == [200, 200, 429, 429, 418]
        assert sim.stats.spot.rest_weight_peak_1m == 40
        await sim.advance_to(sim.now_ms() + 60_000)
        async with http.get("/api/v3/ping") as r:
            assert r.status == 418  # banned for 2 exchange minutes
        await sim.advance_to(sim.now_ms() + 120_000)
        async with http.get("/api/v3/ping") as r:
            assert r.status == 200


async def test_endpoints_ccxt_and_python_binance_call_by_default(sim: Simulator) -> None:
    """ticker/price, ticker/bookTicker, avgPrice, trades, openInterest, markPriceKlines: served, consistent
    with the klines."""
    async with aiohttp.ClientSession() as http:

        async def get(url: str, **params: str) -> Any:
            async with http.get(url, params=params) as r:
                assert r.status == 200, (url, await r.text())
                return await r.json()

        for base, prefix in ((sim.spot_rest_url, "/api/v3"), (sim.futures_rest_url, "/fapi/v1")):
            bar = (await get(f"{base}{prefix}/klines", symbol="BTCUSDT", interval="1m", limit="1"))[-1]
            price = await get(f"{base}{prefix}/ticker/price", symbol="BTCUSDT")
            assert (price["symbol"], price["price"]) == ("BTCUSDT", bar[4])
            every = await get(f"{base}{prefix}/ticker/price")
            assert len(every) > 1
            assert {"symbol", "price"} <= set(every[0])
            book = await get(f"{base}{prefix}/ticker/bookTicker", symbol="BTCUSDT")
            assert float(book["bidPrice"]) < float(bar[4]) < float(book["askPrice"])
            trades = await get(f"{base}{prefix}/trades", symbol="BTCUSDT", limit="5")
            assert 0 < len(trades) <= 5
            assert {"id", "price", "qty", "quoteQty", "time", "isBuyerMaker"} <= set(trades[0])
        five = await get(f"{sim.spot_rest_url}/api/v3/klines", symbol="BTCUSDT", interval="1m", limit="6")
        avg = await get(f"{sim.spot_rest_url}/api/v3/avgPrice", symbol="BTCUSDT")
        assert avg["mins"] == 5
        assert min(float(r[3]) for r in five) <= float(avg["price"]) <= max(float(r[2]) for r in five)
        interest = await get(f"{sim.futures_rest_url}/fapi/v1/openInterest", symbol="BTCUSDT")
        assert float(interest["openInterest"]) > 0
        marks = await get(
            f"{sim.futures_rest_url}/fapi/v1/markPriceKlines", symbol="BTCUSDT", interval="5m", limit="3"
        )
        klines = await get(
            f"{sim.futures_rest_url}/fapi/v1/klines", symbol="BTCUSDT", interval="5m", limit="3"
        )
        assert [r[0] for r in marks] == [r[0] for r in klines]
