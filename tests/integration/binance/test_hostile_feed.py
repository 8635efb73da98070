"""A hostile or broken exchange: the real BinanceFeed against the simulator turned hostile on 127.0.0.1.

In order: a broken exchangeInfo at start, garbage frames, a 10 MB frame, silence, a close with 1008, a
flood of 300,000 frames on unknown stream names of up to 1,000 characters, 10,000 klines of symbols the
feed does not carry on a stream it does, then 429 and 418 with
`Retry-After: 1e9`. Afterwards every series still closes bars over the WebSocket, REST is paused for at
most `RETRY_AFTER_MAX_S` with one operator notice per pause, the tables keyed by stream name hold only
subscribed streams, and the RSS of the process (feed and simulator) grew by less than the junk would
have cost before the bounds.
"""

from __future__ import annotations

import asyncio
import resource
from pathlib import Path

import pytest
from sim_feed import ALL_SYMBOLS, Collector, bootstrapped_feed, sim_config

from conftest import eventually
from cryptoradar.core.errors import RetryableError
from cryptoradar.core.metrics import REGISTRY
from cryptoradar.events import FeedStatus, Market, StatusLevel
from cryptoradar.sim import Fault, FaultKind, SimOptions, Simulator
from cryptoradar.sources.binance import parse
from cryptoradar.sources.binance.rest import RETRY_AFTER_MAX_S, BinanceRest

pytestmark = pytest.mark.slow

M = 60_000
JUNK_BATCHES = 30
JUNK_PER_BATCH = 10_000
RSS_GROWTH_MAX_BYTES = 96 * 2**20
"""The flood's names alone are ~170 MB of strings; remembered per name, as before the bounds, they stayed."""


def _rss_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize()


def _unsubscribed_drops() -> float:
    value = REGISTRY.get_sample_value(
        "cryptoradar_parse_errors_total", {"market": "spot", "kind": "unsubscribed_stream"}
    )
    return value or 0.0


def _skipped_foreign() -> float:
    value = REGISTRY.get_sample_value(
        "cryptoradar_binance_items_skipped_total", {"market": "spot", "reason": "foreign_symbol"}
    )
    return value or 0.0


async def test_the_feed_survives_a_hostile_exchange_with_bounded_memory() -> None:
    opts = SimOptions(seed=7, symbols=12, acceleration=60.0, intervals=("1m",), futures_symbols=1)
    async with Simulator(opts) as sim:
        sim.inject(Fault(FaultKind.BROKEN_EXCHANGE_INFO, market=Market.SPOT, count=2))
        got = Collector()
        async with bootstrapped_feed(sim, sim_config(sim), ALL_SYMBOLS, got) as feed:
            spot = feed.market(Market.SPOT)
            symbols = sorted(spot.symbols)
            assert symbols

            def closed_through(target_ms: int) -> bool:
                return all((got.closed[(Market.SPOT, s, "1m")] or [0])[-1] >= target_ms for s in symbols)

            await eventually(lambda: closed_through(sim.now_ms() // M * M - M), 20, "bars closing")
            rss_before = _rss_bytes()

            for fault in (
                Fault(FaultKind.MALFORMED_FRAMES, market=Market.SPOT, count=200),
                Fault(FaultKind.HUGE_FRAME, market=Market.SPOT),
                Fault(FaultKind.STALL, market=Market.SPOT, duration_wall_s=2.0),
                Fault(FaultKind.POLICY_CLOSE, market=Market.SPOT),
            ):
                sim.inject(fault)
                target_ms = sim.now_ms() // M * M + M  # a bar that closes after the fault
                await eventually(
                    lambda t=target_ms: closed_through(t), 30, f"bars closing after {fault.kind}"
                )

            drops_before = _unsubscribed_drops()
            for batch in range(1, JUNK_BATCHES + 1):
                sim.inject(Fault(FaultKind.JUNK_STREAMS, market=Market.SPOT, count=JUNK_PER_BATCH))
                want = drops_before + batch * JUNK_PER_BATCH * len(spot.pool.connections)
                await eventually(lambda w=want: _unsubscribed_drops() >= w, 30, f"junk batch {batch} read")

            # Klines of symbols the feed does not carry, on a stream it subscribed to: no new bar series.
            sim.inject(Fault(FaultKind.FOREIGN_KLINES, market=Market.SPOT, count=JUNK_PER_BATCH))
            await eventually(lambda: _skipped_foreign() >= JUNK_PER_BATCH, 30, "foreign klines read")
            assert len(spot.closer._series) <= len(symbols)
            assert got.closed.keys() <= {(Market.SPOT, s, "1m") for s in symbols}

            # 418 on the feed's own REST client: it fails fast, and the feed tells the operator.
            loop = asyncio.get_running_loop()
            sim.inject(Fault(FaultKind.REST_ERRORS, market=Market.SPOT, status=418, retry_after="1e9"))
            with pytest.raises(RetryableError, match="418"):
                await spot.rest.exchange_info()
            assert 0 < spot.rest.banned_until_s - loop.time() <= RETRY_AFTER_MAX_S
            # 429 on a second client with the same settings (the feed's is banned): its requests wait.
            statuses: list[FeedStatus] = []
            async with BinanceRest(spot.rest.settings, sim.clock, statuses.append) as other:
                sim.inject(Fault(FaultKind.REST_ERRORS, market=Market.SPOT, status=429, retry_after="1e9"))
                waiting = asyncio.create_task(other.exchange_info())
                await eventually(lambda: other.blocked_until_s > loop.time(), 10, "the 429 seen")
                assert other.blocked_until_s - loop.time() <= RETRY_AFTER_MAX_S
                waiting.cancel()
                await asyncio.gather(waiting, return_exceptions=True)
            notices = [s for s in [*got.status, *statuses] if s.level is StatusLevel.OPERATOR]
            assert [("418" in n.reason, "429" in n.reason) for n in notices] == [(True, False), (False, True)]

            target_ms = sim.now_ms() // M * M + 2 * M
            await eventually(lambda: closed_through(target_ms), 30, "bars closing after the hostile run")

            for conn in spot.pool.connections:
                assert set(conn._last_seen_s) <= conn.desired | conn.subscribed
            assert parse._lru_stream_type_of.cache_info().currsize <= parse.STREAM_NAME_CACHE_MAX
            growth = _rss_bytes() - rss_before
            assert growth <= RSS_GROWTH_MAX_BYTES, f"RSS grew by {growth / 2**20:.1f} MiB"
            print(
                f"\nhostile feed: RSS grew {growth / 2**20:.1f} MiB over {JUNK_BATCHES * JUNK_PER_BATCH} junk frames"
            )
