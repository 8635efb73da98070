"""`record` taps the live pool before parsing; a recording replays to exactly what was received."""

from __future__ import annotations

from pathlib import Path

from conftest import eventually
from cryptoradar.config.binance import BinanceConfig, UniverseConfig
from cryptoradar.core.clock import SystemClock
from cryptoradar.events import Bar, Event, Market
from cryptoradar.sim import SimOptions, Simulator
from cryptoradar.sources.binance.feed import BinanceFeed
from cryptoradar.sources.binance.parse import FrameParser
from cryptoradar.sources.recorder import Recorder
from cryptoradar.sources.replay import replay_frames


async def test_recorded_frames_replay_to_the_events_the_live_parser_saw(tmp_path: Path) -> None:
    path = tmp_path / "session.jsonl.zst"
    live_parser = FrameParser(Market.SPOT)
    live_events: list[Event] = []
    options = SimOptions(seed=5, symbols=20, futures_symbols=4, acceleration=120.0, history_bars=120)
    async with Simulator(options) as sim:
        endpoints = BinanceConfig().spot.model_copy(
            update={"rest_url": sim.spot_rest_url, "ws_url": sim.spot_ws_url}
        )
        binance = BinanceConfig(spot=endpoints, spot_intervals=("1m",))
        with Recorder(path, url=sim.spot_ws_url) as recorder:

            def tap(raw: str | bytes, ts_recv_ns: int, market: Market, connection_id: str) -> None:
                recorder.record(raw, ts_recv_ns, market, connection_id)
                live_events.extend(live_parser.parse(raw, ts_recv_ns).events)

            feed = BinanceFeed(
                binance,
                UniverseConfig(futures=False, min_avg_hourly_quote_volume=0),
                SystemClock(),
                frame_tap=tap,
            )
            await feed.start()
            try:
                await eventually(
                    lambda: sum(isinstance(e, Bar) and e.closed for e in live_events) >= 100,
                    timeout_s=60,
                    what="final klines on the recorded stream",
                )
            finally:
                await feed.stop()
            written = recorder.frames_written

    first = list(replay_frames(path))
    second = list(replay_frames(path))
    assert len(first) == written
    assert [f.error_kind for f in first] == [None] * written
    replayed = [event for frame in first for event in frame.events]
    assert replayed == live_events, "replay reproduces the live parse, timestamps included"
    assert replayed == [event for frame in second for event in frame.events]
