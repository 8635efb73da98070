"""One silent stream on a live connection is reported first (its symbol may have been halted); only if it
stays silent and wanted for another `stale_after_s` does the connection reconnect. Against the simulator."""

from __future__ import annotations

from conftest import eventually
from cryptoradar.events import ConnectionState, Event, Market
from cryptoradar.sim import Fault, FaultKind, SimOptions, Simulator
from cryptoradar.sources.base import TokenBucket
from cryptoradar.sources.binance.pool import PoolSettings, StreamPool

STALE_S = 0.6


async def test_a_silent_stream_is_reported_then_reconnected_if_still_wanted() -> None:
    opts = SimOptions(
        seed=8, symbols=5, acceleration=60.0, intervals=("1m",), futures_symbols=1, scenarios=False
    )
    async with Simulator(opts) as sim:
        names = [f"{s.lower()}@kline_1m" for s in sim.symbols[:5]]
        reported: list[list[str]] = []

        async def sink(events: list[Event]) -> None:
            return None

        settings = PoolSettings(market=Market.SPOT, ws_url=sim.spot_ws_url, streams_per_connection=10,
                                control_messages_per_s=3, stale_after_s=STALE_S, max_connection_age_s=3600,
                                backoff_initial_s=0.05, backoff_max_s=0.2)  # fmt: skip
        pool = StreamPool(settings, clock=sim.clock, connect_limiter=TokenBucket.at_most(300, 300.0), sink=sink,
                          publish_status=lambda _s: None, on_silent=reported.append)  # fmt: skip
        pool.set_streams(names)
        await pool.start()
        try:
            await eventually(lambda: sim.stats.spot.subscriptions == len(names), 10, "subscribed")
            sim.inject(Fault(FaultKind.STALL, market=Market.SPOT, stream=names[0]))
            await eventually(lambda: bool(reported), 5, "the silent stream reported")
            assert sim.stats.spot.connections_opened == 1  # reported, not yet reconnected
            await eventually(lambda: sim.stats.spot.connections_opened == 2, 5, "reconnected after the grace")
            await eventually(
                lambda: all(c.state is ConnectionState.CONNECTED for c in pool.info()), 5, "back"
            )
        finally:
            await pool.stop()
        assert reported == [[names[0]]]  # only the silent one, once per session
