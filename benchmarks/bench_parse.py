"""Binance frame parsing: frames/s per message type on one core, ours vs cryptofeed, plus loopback latency.

Run alone with `python -m benchmarks parse` or through `python -m benchmarks`.

Frame sets: the recorded sessions in ../shared/data/ws (depth frames left out: cryptofeed's depth handler
needs a REST snapshot) and seeded generated frames of each type in Binance's combined-stream shape.
cryptofeed runs in its own interpreter (`CRYPTOFEED_PYTHON`, default /tmp/cfvenv/bin/python) on the same
frames through `benchmarks/cryptofeed_runner.py`; if that interpreter or cryptofeed is missing, the table
says why. Both sides get the frames as `str`, as a WebSocket text frame arrives. Each side's pass over a set
is timed in process CPU time and passes of ours and cryptofeed's alternate, so both see the same machine
load (a shared, busy machine otherwise swamps the difference). Reported per set: each side's best of
`REPEAT` passes and their ratio ("best/best"), and the median over rounds of the ratio of two passes run
back to back ("paired"), which a burst of load on one side moves least.
To set cryptofeed up: `python3 -m venv /tmp/cfvenv && /tmp/cfvenv/bin/pip install cryptofeed`.

Latency: a websockets server in a separate process sends frames over 127.0.0.1 at a fixed rate, each
stamped with its send time (an extra trailing key, ignored by the parser); the client parses every frame
with `FrameParser` and records receive->events and send->events in µs.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import time
from multiprocessing.queues import Queue
from pathlib import Path
from typing import NamedTuple

import websockets

from cryptoradar.events import Market
from cryptoradar.sources.binance.parse import FrameParser
from cryptoradar.sources.replay import iter_recording

ROOT = Path(__file__).resolve().parents[1]
SHARED_WS = ROOT.parent / "shared" / "data" / "ws"
RUNNER = Path(__file__).with_name("cryptofeed_runner.py")
CRYPTOFEED_PYTHON = os.environ.get("CRYPTOFEED_PYTHON", "/tmp/cfvenv/bin/python")
GENERATED_PER_TYPE = 10_000
RECORDED_MIN_FRAMES = 5_000
"""Small recorded sets are cycled up to this many frames so one pass is long enough to time."""
REPEAT = 9
INF = float("inf")
LATENCY_FRAMES = 5_000
LATENCY_RATE_PER_S = 2_000

FrameSet = tuple[str, Market, list[str]]


# --- frame sets -------------------------------------------------------------------------------------


def session_sets() -> list[FrameSet]:
    """Per stream type from the recorded sessions, plus each session's full non-depth mix in order."""
    sets: list[FrameSet] = []
    for name, market in (("spot-session-1.txt", Market.SPOT), ("usdm-session-1.txt", Market.USDM)):
        path = SHARED_WS / name
        if not path.exists():
            print(f"(skipping recorded frames: {path} missing)")
            continue
        by_type: dict[str, list[str]] = {}
        for frame in iter_recording(path):
            stream_type = json.loads(frame.raw)["stream"].split("@")[1].split("_")[0]
            if stream_type != "depth":
                by_type.setdefault(stream_type, []).append(frame.raw)
        label = market.value
        mix = [frame.raw for frame in iter_recording(path) if "@depth" not in frame.raw[:60]]
        for set_name, frames in [*sorted(by_type.items()), ("mix", mix)]:
            cycled = [frames[i % len(frames)] for i in range(max(len(frames), RECORDED_MIN_FRAMES))]
            sets.append((f"{label} recorded {set_name}", market, cycled))
    return sets


def _num(rng: random.Random, low: float, high: float, decimals: int) -> str:
    return f"{rng.uniform(low, high):.{decimals}f}"


def generated_sets(n: int = GENERATED_PER_TYPE, seed: int = 11) -> list[FrameSet]:
    """Seeded frames of every type we parse, in Binance's combined-stream shape."""
    rng = random.Random(seed)
    symbols = [f"SYM{i}USDT" for i in range(50)]
    t0_ms = 1_767_225_600_000

    def envelope(stream: str, data: dict[str, object]) -> str:
        return json.dumps({"stream": stream, "data": data}, separators=(",", ":"))

    def kline(i: int, futures: bool) -> str:
        s = rng.choice(symbols)
        t = t0_ms + i // 50 * 60_000
        # the parser rejects a bar with open or close outside [low, high]
        low, o, c, high = (f"{x:.2f}" for x in sorted(rng.uniform(1, 9e4) for _ in range(4)))
        o, c = (o, c) if rng.random() < 0.5 else (c, o)
        k = {"t": t, "T": t + 59_999, "s": s, "i": "1m", "f": i, "L": i + 9, "o": o, "c": c, "h": high, "l": low,
             "v": _num(rng, 0, 1e3, 3), "n": rng.randint(0, 5000), "x": rng.random() < 0.02,
             "q": _num(rng, 0, 1e7, 4), "V": _num(rng, 0, 1e3, 3), "Q": _num(rng, 0, 1e7, 4), "B": "0"}  # fmt: skip
        return envelope(f"{s.lower()}@kline_1m", {"e": "kline", "E": t + 1000 + i, "s": s, "k": k})

    def agg_trade(i: int, futures: bool) -> str:
        s = rng.choice(symbols)
        data: dict[str, object] = {"e": "aggTrade", "E": t0_ms + i, "s": s, "a": 10**9 + i,
                                   "p": _num(rng, 1, 9e4, 2), "q": _num(rng, 0.001, 50, 3), "f": i, "l": i + 2,
                                   "T": t0_ms + i - 1, "m": rng.random() < 0.5}  # fmt: skip
        data.update({"nq": data["q"]} if futures else {"M": True})
        return envelope(f"{s.lower()}@aggTrade", data)

    def book_ticker(i: int, futures: bool) -> str:
        s = rng.choice(symbols)
        data: dict[str, object] = {"u": 10**11 + i, "s": s, "b": _num(rng, 1, 9e4, 2), "B": _num(rng, 0, 50, 3),
                                   "a": _num(rng, 1, 9e4, 2), "A": _num(rng, 0, 50, 3)}  # fmt: skip
        if futures:
            data = {"e": "bookTicker", **data, "E": t0_ms + i, "T": t0_ms + i - 2}
        return envelope(f"{s.lower()}@bookTicker", data)

    def force_order(i: int, futures: bool) -> str:
        s = rng.choice(symbols)
        o = {"s": s, "S": rng.choice(["BUY", "SELL"]), "o": "LIMIT", "f": "IOC", "q": _num(rng, 0.01, 100, 3),
             "p": _num(rng, 1, 9e4, 2), "ap": _num(rng, 1, 9e4, 2), "X": "FILLED", "l": _num(rng, 0, 10, 3),
             "z": _num(rng, 0.01, 100, 3), "T": t0_ms + i}  # fmt: skip
        return envelope("!forceOrder@arr", {"e": "forceOrder", "E": t0_ms + i + 4, "o": o})

    def mark_price(i: int, futures: bool) -> str:
        s = rng.choice(symbols)
        data = {"e": "markPriceUpdate", "E": t0_ms + i, "s": s, "p": _num(rng, 1, 9e4, 8),
                "ap": _num(rng, 1, 9e4, 8), "P": _num(rng, 1, 9e4, 8), "i": _num(rng, 1, 9e4, 8),
                "r": _num(rng, -0.001, 0.001, 8), "T": t0_ms + 8 * 3_600_000}  # fmt: skip
        return envelope(f"{s.lower()}@markPrice@1s", data)

    makers = {"kline": kline, "aggTrade": agg_trade, "bookTicker": book_ticker}
    futures_only = {"forceOrder": force_order, "markPrice": mark_price}
    sets: list[FrameSet] = []
    for market in (Market.SPOT, Market.USDM):
        futures = market == Market.USDM
        for name, make in {**makers, **(futures_only if futures else {})}.items():
            sets.append((f"{market.value} generated {name}", market, [make(i, futures) for i in range(n)]))
    return sets


# --- throughput -------------------------------------------------------------------------------------


def check_ours(market: Market, frames: list[str]) -> tuple[int, int]:
    """(events, errors) our parser produces for one pass: a sanity check printed with the numbers."""
    parser = FrameParser(market)
    results = [parser.parse(raw, 0) for raw in frames]
    return sum(len(r.events) for r in results), sum(r.error_kind is not None for r in results)


def pass_ours(parser: FrameParser, frames: list[str]) -> float:
    """CPU seconds for one pass of our parser over `frames`."""
    parse = parser.parse
    ts_recv_ns = time.time_ns()
    started = time.process_time()
    for raw in frames:
        parse(raw, ts_recv_ns)
    return time.process_time() - started


class Cryptofeed:
    """cryptofeed's handlers in their own interpreter (`cryptofeed_runner.py`), one pass per request."""

    def __init__(self, sets: list[FrameSet]) -> None:
        self.proc = subprocess.Popen(
            [CRYPTOFEED_PYTHON, str(RUNNER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        job = {"sets": [{"name": n, "market": m.value, "frames": f} for n, m, f in sets]}
        self.version = self._request(json.dumps(job))["version"]

    def _request(self, line: str) -> dict[str, object]:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline()
        if not reply:
            stderr = self.proc.stderr.read() if self.proc.stderr else ""
            raise RuntimeError((stderr.strip().splitlines() or ["no output"])[-1])
        result: dict[str, object] = json.loads(reply)
        return result

    def pass_cpu_s(self, name: str) -> float:
        return float(self._request(name)["cpu_s"])  # type: ignore[arg-type]

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(10)


def start_cryptofeed(sets: list[FrameSet]) -> tuple[Cryptofeed | None, str]:
    if not Path(CRYPTOFEED_PYTHON).exists():
        return None, f"cryptofeed unavailable: no interpreter at {CRYPTOFEED_PYTHON} (set CRYPTOFEED_PYTHON)"
    try:
        runner = Cryptofeed(sets)
    except (OSError, RuntimeError, ValueError) as exc:
        return None, f"cryptofeed unavailable: {exc}"
    return runner, f"cryptofeed {runner.version} via {CRYPTOFEED_PYTHON}"


class Rates(NamedTuple):
    """One frame set's result: best-of-N frames/s per side and the median of the per-round ratios."""

    ours_per_s: float
    cryptofeed_per_s: float | None
    paired_ratio: float | None
    """Median over rounds of (our rate / cryptofeed's) from passes run back to back: robust to load shifts."""


def throughput(sets: list[FrameSet], repeat: int = REPEAT) -> tuple[dict[str, Rates], str]:
    """Per set: best of `repeat` CPU-timed passes per side, taken alternately, and the median paired ratio."""
    runner, status = start_cryptofeed(sets)
    parsers = {m: FrameParser(m) for m in Market}
    ours_s: dict[str, list[float]] = {name: [] for name, _, _ in sets}
    theirs_s: dict[str, list[float]] = {name: [] for name, _, _ in sets}
    try:
        for _ in range(repeat):
            for name, market, frames in sets:
                ours_s[name].append(pass_ours(parsers[market], frames))
                if runner is not None:
                    theirs_s[name].append(runner.pass_cpu_s(name))
    finally:
        if runner is not None:
            runner.close()
    rates: dict[str, Rates] = {}
    for name, _, frames in sets:
        ours, theirs = ours_s[name], theirs_s[name]
        rates[name] = Rates(
            len(frames) / min(ours),
            len(frames) / min(theirs) if theirs else None,
            statistics.median(t / o for o, t in zip(ours, theirs, strict=True)) if theirs else None,
        )
    return rates, status


# --- loopback latency -------------------------------------------------------------------------------


def _serve(frames: list[str], rate_per_s: float, port_queue: Queue[int]) -> None:
    """Child process: a websockets server sending `frames` at a fixed rate, each stamped with its send time."""

    async def handler(ws: websockets.ServerConnection) -> None:
        loop = asyncio.get_running_loop()
        start_s = loop.time()
        for i, raw in enumerate(frames):
            delay_s = start_s + i / rate_per_s - loop.time()
            if delay_s > 0:
                await asyncio.sleep(delay_s)
            await ws.send(f'{raw[:-1]},"sent_ns":{time.time_ns()}}}')
        await ws.close()

    async def serve() -> None:
        async with websockets.serve(handler, "127.0.0.1", 0, compression=None) as server:
            port_queue.put(next(iter(server.sockets)).getsockname()[1])
            await server.serve_forever()

    asyncio.run(serve())


async def _receive(port: int, market: Market) -> tuple[list[float], list[float]]:
    parser = FrameParser(market)
    recv_to_event_us: list[float] = []
    send_to_event_us: list[float] = []
    async with websockets.connect(f"ws://127.0.0.1:{port}", compression=None, max_size=None) as ws:
        async for message in ws:
            ts_recv_ns = time.time_ns()
            parser.parse(message, ts_recv_ns)
            done_ns = time.time_ns()
            text = message if isinstance(message, str) else message.decode()
            sent_ns = int(text[text.rindex(":") + 1 : -1])
            recv_to_event_us.append((done_ns - ts_recv_ns) / 1e3)
            send_to_event_us.append((done_ns - sent_ns) / 1e3)
    return recv_to_event_us, send_to_event_us


def measure_latency(frames: list[str], market: Market) -> tuple[list[float], list[float]]:
    ctx = multiprocessing.get_context("spawn")
    port_queue: Queue[int] = ctx.Queue()
    server = ctx.Process(target=_serve, args=(frames, LATENCY_RATE_PER_S, port_queue), daemon=True)
    server.start()
    try:
        return asyncio.run(_receive(port_queue.get(timeout=30), market))
    finally:
        server.terminate()
        server.join(5)


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 1000) - 1]


# --- report -------------------------------------------------------------------------------------------


def main() -> None:
    sets = session_sets() + generated_sets()
    rates, status = throughput(sets)
    print(f"python {sys.version.split()[0]}, one core, CPU time, best of {REPEAT}; {status}")
    header = f"{'frame set':32} {'frames':>7} {'ours frames/s':>14} {'cryptofeed/s':>13} {'best/best':>10} {'paired':>7}"
    print(header)
    print("-" * len(header))
    for name, market, frames in sets:
        ours, theirs, paired = rates[name]
        events, errors = check_ours(market, frames)
        cf = f"{theirs:13,.0f}" if theirs else f"{'-':>13}"
        ratio = f"{ours / theirs:9.2f}x" if theirs else f"{'-':>10}"
        paired_ratio = f"{paired:6.2f}x" if paired else f"{'-':>7}"
        note = (
            f"  ({errors} errors!)" if errors else ("" if events == len(frames) else f"  ({events} events)")
        )
        print(f"{name:32} {len(frames):7d} {ours:14,.0f} {cf} {ratio} {paired_ratio}{note}")
    paired_all = [r.paired_ratio for r in rates.values() if r.paired_ratio is not None]
    if paired_all:
        print(f"lowest paired ratio {min(paired_all):.2f}x (target >= 3x on every set)")

    usdm = [s for s in sets if s[0] == "usdm recorded mix"]
    base = usdm[0][2] if usdm else sets[0][2]
    latency_frames = [base[i % len(base)] for i in range(LATENCY_FRAMES)]
    recv_us, send_us = measure_latency(latency_frames, Market.USDM)
    print(
        f"\nloopback WebSocket, {len(recv_us)} frames at {LATENCY_RATE_PER_S}/s:"
        f"\n  receive->events  p50 {_pct(recv_us, 0.5):7.1f} µs   p99 {_pct(recv_us, 0.99):7.1f} µs"
        f"\n  send->events     p50 {_pct(send_us, 0.5):7.1f} µs   p99 {_pct(send_us, 0.99):7.1f} µs"
    )


if __name__ == "__main__":
    main()
