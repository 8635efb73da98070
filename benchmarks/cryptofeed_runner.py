"""Times cryptofeed's Binance handlers on given frames. Runs in cryptofeed's own interpreter, not ours.

Protocol on stdin/stdout, one JSON document per line:
- first line in: `{"sets": [{"name", "market": "spot"|"usdm", "frames": [...]}]}`; reply
  `{"version": "<cryptofeed version>"}` once the feeds are built;
- then each line in is a set name; the reply is `{"cpu_s": <CPU seconds for one pass>, "callbacks": n}`;
- EOF ends the process.

The caller alternates passes of its own parser and of this one, so both see the same machine load.
Only the standard library and cryptofeed are imported. cryptofeed's symbol table (normally fetched over
REST) is filled from the symbols in the frames, so no network is touched; callbacks only count.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import sys
import time
from typing import Any


def _symbols(frames: list[str]) -> set[str]:
    found: set[str] = set()
    for raw in frames:
        data = json.loads(raw)["data"]
        items = data if isinstance(data, list) else [data]
        for item in items:
            found.add(item["o"]["s"] if "o" in item else item["s"])
    return found


async def _serve() -> None:
    from cryptofeed.defines import CANDLES, FUNDING, LIQUIDATIONS, TICKER, TRADES
    from cryptofeed.exchanges import Binance, BinanceFutures
    from cryptofeed.symbols import Symbols

    counted = [0]

    async def count(obj: Any, receipt_timestamp: float) -> None:
        counted[0] += 1

    job = json.loads(sys.stdin.readline())
    sets = {s["name"]: s for s in job["sets"]}
    frames_by_market: dict[str, list[str]] = {"spot": [], "usdm": []}
    for s in job["sets"]:
        frames_by_market[s["market"]].extend(s["frames"])
    Symbols.set(Binance.id, {f"{sym}-STD": sym for sym in _symbols(frames_by_market["spot"])}, {})
    Symbols.set(BinanceFutures.id, {f"{sym}-PERP": sym for sym in _symbols(frames_by_market["usdm"])}, {})
    callbacks = {TRADES: count, TICKER: count, CANDLES: count, LIQUIDATIONS: count, FUNDING: count}
    feeds = {
        "spot": Binance(candle_closed_only=False, callbacks=dict(callbacks)),
        "usdm": BinanceFutures(candle_closed_only=False, callbacks=dict(callbacks)),
    }
    print(json.dumps({"version": importlib.metadata.version("cryptofeed")}), flush=True)

    for line in sys.stdin:
        chosen = sets[line.strip()]
        handler = feeds[chosen["market"]].message_handler
        frames = chosen["frames"]
        counted[0] = 0
        ts = time.time()
        started = time.process_time()
        for raw in frames:
            await handler(raw, None, ts)
        cpu_s = time.process_time() - started
        print(json.dumps({"cpu_s": cpu_s, "callbacks": counted[0]}), flush=True)


if __name__ == "__main__":
    asyncio.run(_serve())
