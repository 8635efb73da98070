"""What the service's lifecycle costs with the default universe shape: 300 spot symbols x 4 intervals,
120 closed bars per series (what the app keeps for the chart and for warming detectors).

Measured, each on a fresh SQLite file:
- shutdown: saving the last-closed map and the recent bars (`app/state.py`);
- restart: loading both and warming a default `DetectorSet` (`reload.warm`);
- SIGHUP: rebuilding the momentum detector with a new threshold and warming it (`rebuild_detectors`),
  the time the event loop is blocked by a threshold reload.
"""

from __future__ import annotations

import asyncio
import math
import tempfile
import time
from pathlib import Path

from cryptoradar.app.reload import rebuild_detectors, warm
from cryptoradar.app.state import load_last_closed, load_recent_bars, save_last_closed, save_recent_bars
from cryptoradar.config import Settings
from cryptoradar.detectors.engine import DetectorSet
from cryptoradar.events import Bar, Market
from cryptoradar.storage.sqlite import SqliteStore

SYMBOLS = 300
INTERVALS_MS = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "1h": 3_600_000}
BARS_PER_SERIES = 120
START_MS = 1_767_225_600_000


def history() -> list[Bar]:
    bars: list[Bar] = []
    for s in range(SYMBOLS):
        symbol = f"S{s:03d}USDT"
        for interval, length_ms in INTERVALS_MS.items():
            first = START_MS - BARS_PER_SERIES * length_ms
            for i in range(BARS_PER_SERIES):
                price = 100.0 + 5.0 * math.sin((s + i) / 7.0)
                open_ms = first + i * length_ms
                close_ns = (open_ms + length_ms) * 1_000_000
                ohlc = (price, price * 1.01, price * 0.99, price * 1.002)
                bars.append(
                    Bar(Market.SPOT, symbol, interval, open_ms, open_ms + length_ms - 1, *ohlc,
                        10.0 + i % 7, 1_000.0 * price, 40, 5.0, 500.0 * price, True, close_ns, close_ns)
                )  # fmt: skip
    bars.sort(key=lambda b: (b.close_time_ms, b.ts_event_ns))
    return bars


async def measure(path: Path, bars: list[Bar]) -> None:
    last_closed = {(b.market, b.symbol, b.interval): b.open_time_ms for b in bars}
    store = SqliteStore(path)
    await store.open()
    started = time.perf_counter()
    await save_last_closed(store, last_closed)
    await save_recent_bars(store, bars)
    saved_s = time.perf_counter() - started
    await store.close()
    size_mb = sum(p.stat().st_size for p in path.parent.iterdir()) / 1e6

    store = SqliteStore(path)
    await store.open()
    started = time.perf_counter()
    loaded = await load_recent_bars(store)
    await load_last_closed(store)
    loaded_s = time.perf_counter() - started
    await store.close()
    settings = Settings()
    detectors = DetectorSet(settings.detectors)
    started = time.perf_counter()
    warm(detectors, loaded)
    warm_s = time.perf_counter() - started

    momentum = settings.detectors.momentum.model_copy(update={"min_move_pct": 2.5})
    changed = settings.model_copy(
        update={"detectors": settings.detectors.model_copy(update={"momentum": momentum})}
    )
    started = time.perf_counter()
    rebuild_detectors(detectors, settings, changed, iter(loaded))
    reload_s = time.perf_counter() - started

    print(f"{len(bars):,} bars in {len(last_closed):,} series; store {size_mb:.1f} MB after saving")
    print(f"shutdown: save last-closed map + recent bars   {saved_s * 1000:8.0f} ms")
    print(f"restart:  load both                            {loaded_s * 1000:8.0f} ms")
    print(f"restart:  warm default detectors               {warm_s * 1000:8.0f} ms")
    print(f"SIGHUP:   rebuild + warm momentum (loop blocked) {reload_s * 1000:6.0f} ms")


def main() -> None:
    bars = history()
    with tempfile.TemporaryDirectory(prefix="bench-lifecycle-") as tmp:
        asyncio.run(measure(Path(tmp) / "state.db", bars))


if __name__ == "__main__":
    main()
