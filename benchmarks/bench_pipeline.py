"""Events/s through the production path on the real recorded frames, beside the parse-only rates of the
same frames in the same run: `python -m benchmarks pipeline [frames]`.

Production path, as `cryptoradar run` wires it, minus the socket: each frame is parsed by the market's
`FrameParser`, counted (`frame_counter`), and handed to the feed's sink (`pool.sink`: bar closer, exchange
clock floor, the bounded queue); `Radar`'s pipeline task takes events off that queue, observes them
(stats, health, chart, enricher) and runs the detectors, submitting any signal to the alert service
(SQLite outbox). Frames are the non-depth frames of ../shared/data/ws (spot and USD-M sessions), cycled
to `frames`; the producer yields to the loop every `YIELD_EVERY` frames, as a socket reader would between
reads. The rate counts events taken off the queue per CPU second of this process (the aiosqlite thread
included), after the last one; queue drops are printed (a non-zero count means the rate is not the
pipeline's: the producer ran ahead).

Parse only: the same frames through `FrameParser` alone, and through cryptofeed's handlers when its
interpreter is available (see `bench_parse`), best of `REPEAT_PARSE` passes.

Leaves out: the WebSocket read itself (frames are in memory), the universe (the recorded symbols are not
the simulator's, so no REST bootstrap; bars of unknown series go through the closer as live bars do),
and alert delivery (no channel: the signals, if any, stop at the outbox).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.bench_parse import SHARED_WS, FrameSet, throughput
from cryptoradar.app import Radar
from cryptoradar.config import Settings
from cryptoradar.config.alerts import AlertsConfig
from cryptoradar.config.api import ApiConfig
from cryptoradar.config.storage import StorageConfig
from cryptoradar.events import Market
from cryptoradar.sources.binance.parse import FrameParser
from cryptoradar.sources.replay import iter_recording

YIELD_EVERY = 64
REPEAT_PARSE = 3
SESSIONS = (("spot-session-1.txt", Market.SPOT), ("usdm-session-1.txt", Market.USDM))


def recorded_frames(total: int) -> list[tuple[Market, str]]:
    """The sessions' non-depth frames in order, spot then USD-M, cycled to `total`."""
    frames = [
        (market, frame.raw)
        for name, market in SESSIONS
        for frame in iter_recording(SHARED_WS / name)
        if "@depth" not in frame.raw[:60]
    ]
    if not frames:
        raise SystemExit(f"no recorded frames under {SHARED_WS}")
    return [frames[i % len(frames)] for i in range(total)]


async def production_path(frames: list[tuple[Market, str]], db: Path) -> tuple[int, float, float, int]:
    """(events processed, CPU s, wall s, queue drops) for every frame through the production path."""
    settings = Settings(
        alerts=AlertsConfig(channels={}, default_channels=(), fallback_channels=()),
        api=ApiConfig(enabled=False),
        storage=StorageConfig(sqlite_path=db),
    )
    radar = Radar(settings)
    await radar.store.open()
    await radar.alerts.start()
    queue = radar.feed.queue
    taken = 0
    get_nowait = queue.get_nowait

    def counting_get() -> object:
        nonlocal taken
        taken += 1
        return get_nowait()

    queue.get_nowait = counting_get  # type: ignore[method-assign]  # count what the pipeline takes
    radar._pipeline_task = asyncio.create_task(radar._pipeline())  # as `start` does, without the sockets
    parsers = {m: FrameParser(m) for m in Market}
    pools = {m: radar.feed.market(m).pool for m in Market}
    started_cpu, started_wall = time.process_time(), time.perf_counter()
    for n, (market, raw) in enumerate(frames):
        frame = parsers[market].parse(raw, time.time_ns())
        pool = pools[market]
        pool.frame_counter(market.value, frame.stream_type)
        if frame.events:
            await pool.sink(frame.events)
        if n % YIELD_EVERY == 0:
            await asyncio.sleep(0)
    await radar._finish_pipeline(60.0)  # handles what is queued, as `stop` does
    cpu_s, wall_s = time.process_time() - started_cpu, time.perf_counter() - started_wall
    await radar.alerts.stop(flush_timeout_s=5.0)
    await radar.store.close()
    return taken, cpu_s, wall_s, queue.dropped


def main(total: int = 200_000) -> None:
    frames = recorded_frames(total)
    with tempfile.TemporaryDirectory() as tmp:
        events, cpu_s, wall_s, dropped = asyncio.run(production_path(frames, Path(tmp) / "bench.db"))
    sets: list[FrameSet] = [
        (f"{m.value} recorded", m, [raw for market, raw in frames if market is m])
        for m in (Market.SPOT, Market.USDM)
    ]
    rates, status = throughput(sets, repeat=REPEAT_PARSE)
    parsed_events = sum(len(FrameParser(m).parse(raw, 0).events) for m, raw in frames)
    ours_parse_s = sum(len(f) / rates[name].ours_per_s for name, _, f in sets)
    print(f"{len(frames):,} recorded frames ({parsed_events:,} events), yield every {YIELD_EVERY} frames")
    print(
        f"  production path: {events / cpu_s:,.0f} events/s, {len(frames) / cpu_s:,.0f} frames/s per CPU s "
        f"({events / wall_s:,.0f} events/s wall); {events:,} events taken, queue drops {dropped:,}"
    )
    print(
        f"  our parse only:  {parsed_events / ours_parse_s:,.0f} events/s ({len(frames) / ours_parse_s:,.0f} frames/s)"
    )
    their = [rates[name].cryptofeed_per_s for name, _, _ in sets]
    if all(r is not None for r in their):
        theirs_s = sum(len(f) / r for (_, _, f), r in zip(sets, their, strict=True) if r is not None)
        print(
            f"  cryptofeed parse only: {len(frames) / theirs_s:,.0f} frames/s; production path / cryptofeed "
            f"{theirs_s / cpu_s:.2f}x (frames/s over frames/s)"
        )
    else:
        print(f"  cryptofeed: {status}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)
