"""`cryptoradar record`: raw frames exactly as received, with receive times, for replay and backtests."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from pathlib import Path

from rich.console import Console

from cryptoradar.app import settings_for_simulator, sim_options
from cryptoradar.config import Settings
from cryptoradar.core.clock import SystemClock
from cryptoradar.events import Market
from cryptoradar.sim import Simulator
from cryptoradar.sources.binance.feed import BinanceFeed
from cryptoradar.sources.recorder import Recorder


async def _record_feed(
    settings: Settings, out: Path, duration_s: float, console: Console, stop: asyncio.Event
) -> None:
    with Recorder(out, url=settings.binance.spot.ws_url) as recorder:

        def tap(raw: str | bytes, ts_recv_ns: int, market: Market, connection_id: str) -> None:
            recorder.record(raw, ts_recv_ns, market, connection_id)

        feed = BinanceFeed(settings.binance, settings.universe, SystemClock(), frame_tap=tap)
        await feed.start()
        started_s = time.monotonic()
        try:
            # The feed's own queue is drained so its never-drop items never back up while recording.
            while not stop.is_set() and time.monotonic() - started_s < duration_s:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(feed.queue.get(), timeout=0.5)
        finally:
            await feed.stop()
        console.print(f"recorded {recorder.frames_written:,} frames to {out}")


async def run_record(
    settings: Settings, out: Path, duration_s: float, from_sim: bool, console: Console, stop: asyncio.Event
) -> None:
    if not from_sim:
        await _record_feed(settings, out, duration_s, console, stop)
        return
    with tempfile.TemporaryDirectory(prefix="cryptoradar-record-") as var_dir:
        async with Simulator(sim_options(settings)) as sim:
            local = settings_for_simulator(
                settings,
                spot_rest_url=sim.spot_rest_url,
                spot_ws_url=sim.spot_ws_url,
                futures_rest_url=sim.futures_rest_url,
                futures_ws_url=sim.futures_ws_url,
                var_dir=Path(var_dir),
            )
            await _record_feed(local, out, duration_s, console, stop)
