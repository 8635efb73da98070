"""The feed's bounded queue under a consumer slower than the exchange: droppable events (trades, mark prices,
in-progress bars) are dropped oldest-first and counted, while every closed bar and every liquidation still
arrives, exactly once and in order."""

from __future__ import annotations

import asyncio
import contextlib

import websockets
from sim_feed import sim_config, truth_opens

from conftest import eventually
from cryptoradar.config.binance import UniverseConfig
from cryptoradar.core.metrics import QUEUE_DROPPED
from cryptoradar.events import Bar, ConnectionState, Event, Liquidation, Market
from cryptoradar.sim import SimOptions, Simulator
from cryptoradar.sources.binance.feed import BinanceFeed
from cryptoradar.sources.binance.parse import FrameParser
from cryptoradar.sources.queue import Overflow

M = 60_000
QUEUE_SIZE = 64
TAKE_PER_TICK = 8
"""The consumer takes this many events every 20 ms (~400/s): well below what the feed receives."""

LiqKey = tuple[str, int, float, float]


def liq_key(liq: Liquidation) -> LiqKey:
    return (liq.symbol, liq.ts_event_ns, liq.price, liq.quantity)


async def reference_liquidations(url: str, out: list[Liquidation]) -> None:
    """An independent client on the all-market liquidation stream: what the exchange sent."""
    parser = FrameParser(Market.USDM)
    async with websockets.connect(f"{url}/market/ws/!forceOrder@arr") as ws:
        async for raw in ws:
            out.extend(e for e in parser.parse(raw, 0).events if isinstance(e, Liquidation))


async def test_slow_consumer_drops_only_droppable_events_and_counts_them() -> None:
    opts = SimOptions(seed=21, symbols=40, futures_symbols=30, acceleration=60.0, intervals=("1m",))
    async with Simulator(opts) as sim:
        config = sim_config(sim, queue_size=QUEUE_SIZE, futures_symbol_streams=("aggTrade", "markPrice@1s"),
                            futures_all_market_streams=("!forceOrder@arr",))  # fmt: skip
        universe = UniverseConfig(min_avg_hourly_quote_volume=0, futures=True)
        reference: list[Liquidation] = []
        watcher = asyncio.create_task(reference_liquidations(sim.futures_ws_url, reference))
        await eventually(lambda: sim.stats.futures.subscriptions >= 1, 10, "the reference client subscribed")
        feed = BinanceFeed(config, universe, sim.clock)
        counter = QUEUE_DROPPED.labels(queue="binance", policy=Overflow.DROP_OLDEST)
        dropped_metric_before = counter._value.get()
        got: list[Event] = []
        last_closed: dict[str, int] = {}
        """Spot symbol -> open time of its newest closed bar received."""

        def take() -> None:
            event = feed.queue.get_nowait()
            got.append(event)
            if isinstance(event, Bar) and event.closed and event.market is Market.SPOT:
                last_closed[event.symbol] = event.open_time_ms

        async def slow_consumer() -> None:
            while True:
                await asyncio.sleep(0.02)  # the consumer's pace, not a synchronisation
                for _ in range(min(TAKE_PER_TICK, len(feed.queue))):
                    take()

        consumer = asyncio.create_task(slow_consumer())
        await feed.start()
        try:
            await asyncio.wait_for(feed.wait_bootstrapped(), 30)
            futures = feed.market(Market.USDM)
            await eventually(
                lambda: any(c.state is ConnectionState.CONNECTED for c in futures.pool.info()), 10, "usdm up"
            )
            from_ms = sim.now_ms() + 2_000  # liquidations from here on must all arrive
            await eventually(lambda: feed.queue.dropped > 500, 30, "the queue overflowing")
            await eventually(lambda: len(reference) >= 20, 30, "liquidations on the tape")
            until_ms = sim.now_ms() - 2_000
            target_ms = sim.now_ms() // M * M - M
            spot_symbols = feed.market(Market.SPOT).symbols
            await eventually(
                lambda: all(last_closed.get(s, 0) >= target_ms for s in spot_symbols),
                30,
                "every spot series past the overflow",
            )
        finally:
            await feed.stop()
            consumer.cancel()
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await consumer
            with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
                await watcher
        while len(feed.queue):
            take()

    dropped = feed.queue.dropped
    assert dropped > 500
    assert counter._value.get() - dropped_metric_before == dropped
    assert feed.state().queue_dropped == dropped

    # Every closed spot bar from the first one received on: none missing, none twice, in order.
    assert len(spot_symbols) == 40
    for symbol in sorted(spot_symbols):
        opens = [e.open_time_ms for e in got if isinstance(e, Bar) and e.closed and e.symbol == symbol]
        window = [t for t in truth_opens(sim, symbol, "1m") if opens[0] <= t <= opens[-1]]
        assert opens == window, symbol
        assert opens[-1] >= target_ms

    # Every liquidation the exchange sent in the window reached the consumer, once.
    def in_window(liqs: list[Liquidation]) -> list[LiqKey]:
        return sorted(liq_key(x) for x in liqs if from_ms * 10**6 <= x.ts_event_ns <= until_ms * 10**6)

    ours = in_window([e for e in got if isinstance(e, Liquidation)])
    expected = in_window(reference)
    assert len(expected) >= 10
    assert ours == expected
    print(
        f"\noverflow test: {dropped} droppable events dropped, {len(got)} delivered, {len(ours)} liquidations kept"
    )
