"""USD-M premiumIndex and fundingRate through `BinanceRest` against the simulator: shapes, weights, agreement
with the mark-price stream, and fundingRate's own request bucket (it costs no weight)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import pytest
import websockets

from cryptoradar.core.errors import PermanentError
from cryptoradar.events import Market, MarkPrice
from cryptoradar.sim import SimOptions, Simulator
from cryptoradar.sources.base import TokenBucket
from cryptoradar.sources.binance.parse import FrameParser
from cryptoradar.sources.binance.rest import BinanceRest, RestSettings

FUNDING_PERIOD_MS = 8 * 3_600_000


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    opts = SimOptions(seed=8, symbols=10, futures_symbols=12, acceleration=60.0, intervals=("1m",), history_bars=26 * 60)  # fmt: skip
    async with Simulator(opts) as simulator:
        yield simulator


def weight_used(sim: Simulator) -> int:
    return sum(sim.stats.futures.rest_weight_by_minute.values())


async def test_premium_index_one_and_all_with_their_weights(sim: Simulator) -> None:
    async with BinanceRest(RestSettings(Market.USDM, sim.futures_rest_url, 1800), sim.clock) as rest:
        before = weight_used(sim)
        everything = await rest.premium_index()
        assert weight_used(sim) - before == 10
        assert sorted(p.symbol for p in everything) == sorted(sim.futures_symbols)
        symbol = sim.futures_symbols[0]
        before = weight_used(sim)
        (one,) = await rest.premium_index(symbol)
        assert weight_used(sim) - before == 1
        now_ms = sim.now_ms()
        assert one.symbol == symbol
        assert one.mark_price > 0
        assert one.index_price > 0
        assert one.next_funding_time > now_ms - 60_000
        assert one.next_funding_time % FUNDING_PERIOD_MS == 0
        assert abs(float(one.last_funding_rate)) < 0.01

        # The REST snapshot and the markPrice stream tell the same funding story.
        url = f"{sim.futures_ws_url}/market/ws/{symbol.lower()}@markPrice@1s"
        parser = FrameParser(Market.USDM)
        async with websockets.connect(url) as ws:
            async with asyncio.timeout(10):
                while True:
                    events = parser.parse(await ws.recv(), 0).events
                    marks = [e for e in events if isinstance(e, MarkPrice)]
                    if marks:
                        break
        (mark,) = marks
        (again,) = await rest.premium_index(symbol)
        assert mark.next_funding_time_ms in (one.next_funding_time, again.next_funding_time)
        rates = {one.next_funding_time: float(one.last_funding_rate), again.next_funding_time: float(again.last_funding_rate)}  # fmt: skip
        assert mark.funding_rate == pytest.approx(rates[mark.next_funding_time_ms])

        with pytest.raises(PermanentError):
            await rest.premium_index("NOSUCHUSDT")


async def test_funding_rate_history_is_ascending_8h_aligned_and_costs_no_weight(sim: Simulator) -> None:
    symbol = sim.futures_symbols[1]
    async with BinanceRest(RestSettings(Market.USDM, sim.futures_rest_url, 1800), sim.clock) as rest:
        before_weight, before_local = weight_used(sim), rest.gate.used
        rows = await rest.funding_rate(symbol, limit=3)  # 24 h of the simulator's 26 h history
        now_ms = sim.now_ms()
        assert len(rows) == 3
        times = [r.funding_time for r in rows]
        assert times == sorted(times)
        assert all(t % FUNDING_PERIOD_MS == 0 for t in times)
        assert [b - a for a, b in itertools.pairwise(times)] == [FUNDING_PERIOD_MS] * 2
        assert times[-1] <= now_ms
        assert {r.symbol for r in rows} == {symbol}
        assert all(abs(r.funding_rate) < 0.01 and float(r.mark_price) > 0 for r in rows)
        window = await rest.funding_rate(symbol, start_ms=times[1], end_ms=times[2])  # both ends inclusive
        assert [r.funding_time for r in window] == times[1:]
        assert [r.funding_rate for r in window] == [r.funding_rate for r in rows[1:]]
        # Its own bucket, not the weight budget: neither the server's count nor ours moved.
        assert weight_used(sim) == before_weight
        assert rest.gate.used == before_local


async def test_funding_rate_requests_are_paced_by_their_own_bucket(sim: Simulator) -> None:
    symbol = sim.futures_symbols[2]
    async with BinanceRest(RestSettings(Market.USDM, sim.futures_rest_url, 1800), sim.clock) as rest:
        rest.funding_bucket = TokenBucket.at_most(4, 1.0)  # the 480 / 5 min bucket, shrunk to test time
        loop = asyncio.get_running_loop()
        started_s = loop.time()
        results = await asyncio.gather(*(rest.funding_rate(symbol, limit=2) for _ in range(10)))
        elapsed_s = loop.time() - started_s
        assert all(len(r) == 2 for r in results)
        # burst 1, then 3 per second: the 10th request cannot start before 9 / 3 = 3 s.
        assert elapsed_s >= 2.9
        assert sim.stats.futures.rest_by_status.get(429, 0) == 0


async def test_spot_has_no_funding_endpoints(sim: Simulator) -> None:
    async with BinanceRest(RestSettings(Market.SPOT, sim.spot_rest_url, 4800), sim.clock) as rest:
        with pytest.raises(PermanentError, match="USD-M only"):
            await rest.funding_rate("BTCUSDT")
        assert rest.requests_sent == 0
