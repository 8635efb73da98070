"""Exchange bar close -> webhook received, measured from outside: `python -m benchmarks e2e [--minutes N]`.

`cryptoradar sim` (300 spot symbols, 50 USD-M, real time) and `cryptoradar run` each run as a child
process; `run` uses the real webhook sink (signed) and posts to a receiver in this process. Momentum is
set loose (every symbol passes every gate), so each 1m close yields alerts: the figure is the latency of
the path, not of a realistic signal rate. Two configurations run one after the other on fresh children:
the defaults (momentum's `group_wait_ms`, the route's `group_wait_s`) and grouping off (both 0).

Latency of an alert = the receiver's wall time mapped onto the simulator's exchange clock (the simulator
keeps its own epoch: its offset from our wall clock is read once from `GET /api/v3/time`, half a round trip
of error) minus the close time of the alert's bar (its final kline is stamped just after the close).

Also reported, over the measured window of the `run` child: frames/s (`cryptoradar_frames_total`),
CPU (user + system, share of one core) and RSS (VmRSS at the end, VmHWM).

Leaves out: the network between Binance and us (loopback here), Binance's own push delay after the
close (the simulator stamps final klines 15-35 ms after it), a realistic alert rate (the loose thresholds
make two group alerts per close), and any channel's remote latency (the receiver answers at once).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web

CLI = Path(sys.executable).with_name("cryptoradar")
SPOT_SYMBOLS = 300
FUTURES_SYMBOLS = 50
MINUTE_MS = 60_000
SETUP_TIMEOUT_S = 300.0
_CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class Receiver:
    """Every alert POSTed: (receive wall time ms, the alert's `ts_event_ns`)."""

    url: str = ""
    received: list[tuple[float, int]] = field(default_factory=list)


async def _start_receiver() -> tuple[Receiver, web.AppRunner]:
    receiver = Receiver()

    async def handle(request: web.Request) -> web.Response:
        body = await request.json()
        now_ms = time.time() * 1000
        receiver.received.extend((now_ms, int(a["ts_event_ns"])) for a in body["alerts"])
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    receiver.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    return receiver, runner


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _write(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _run_config(
    tmp: Path, spot_url: str, futures_url: str, hook_url: str, api_port: int, grouping: bool
) -> dict[str, Any]:
    ws = lambda url: url.replace("http://", "ws://")  # noqa: E731
    momentum: dict[str, Any] = {
        "timeframe": "1m", "lookback_bars": 2, "min_move_pct": 1e-6, "volume_z_period": 2,
        "min_volume_z": -1e9, "min_quote_volume": 0, "atr_period": 1, "trend_timeframes": [], "cooldown_s": 0,
    }  # fmt: skip
    alerts: dict[str, Any] = {
        "channels": {
            "hook": {"type": "webhook", "url": hook_url, "secret": "bench-secret", "rate_limits": []}
        },
        "default_channels": ["hook"],
        "fallback_channels": ["hook"],
        "cooldowns": {},
    }
    if not grouping:
        momentum["group_wait_ms"] = 0
        alerts["group_wait_s"] = 0
    return {
        "log": {"level": "WARNING", "format": "json"},
        "binance": {
            "spot": {"rest_url": spot_url, "ws_url": ws(spot_url), "weight_budget_per_min": 6000,
                     "streams_per_connection": 1024, "control_messages_per_s": 3},
            "futures": {"rest_url": futures_url, "ws_url": ws(futures_url), "weight_budget_per_min": 2400,
                        "streams_per_connection": 200, "control_messages_per_s": 5},
            "bootstrap_bars": 30,
        },
        "universe": {"min_avg_hourly_quote_volume": 0},
        "storage": {"sqlite_path": str(tmp / "radar.db")},
        "api": {"port": api_port},
        "alerts": alerts,
        "detectors": {"radar": {"enabled": False}, "confluence": {"enabled": False}, "momentum": momentum},
    }  # fmt: skip


async def _spawn(args: list[str], tmp: Path, name: str) -> asyncio.subprocess.Process:
    with (tmp / f"{name}.stdout").open("ab") as out, (tmp / f"{name}.stderr").open("ab") as err:
        return await asyncio.create_subprocess_exec(str(CLI), *args, stdout=out, stderr=err)


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 30)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def _until(predicate: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not await predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout_s:.0f}s waiting for {what}")
        await asyncio.sleep(0.5)  # polling an outside process: nothing to wait on


async def _get_json(http: aiohttp.ClientSession, url: str) -> Any:
    try:
        async with http.get(url) as response:
            return await response.json() if response.status == 200 else None
    except aiohttp.ClientError:
        return None


async def _metric(http: aiohttp.ClientSession, api_port: int, name: str) -> float:
    async with http.get(f"http://127.0.0.1:{api_port}/metrics") as response:
        text = await response.text()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def _mem_mib(pid: int) -> dict[str, float]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


def _close_ms(ts_event_ns: int) -> int:
    """The bar's close time: its final kline is stamped just after it (a minute's end - 1 ms)."""
    return round((ts_event_ns // 1_000_000 + 1) / MINUTE_MS) * MINUTE_MS - 1


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _measure(grouping: bool, minutes: float) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp_name:
        tmp = Path(tmp_name)
        spot_port, futures_port, api_port = _free_port(), _free_port(), _free_port()
        spot_url, futures_url = f"http://127.0.0.1:{spot_port}", f"http://127.0.0.1:{futures_port}"
        sim_config = {
            "log": {"level": "WARNING", "format": "json"},
            "sim": {"spot_port": spot_port, "futures_port": futures_port, "symbols": SPOT_SYMBOLS,
                    "futures_symbols": FUTURES_SYMBOLS, "acceleration": 1.0, "seed": 9},
        }  # fmt: skip
        receiver, runner = await _start_receiver()
        sim = await _spawn(["sim", "--config", str(_write(tmp / "sim.yaml", sim_config))], tmp, "sim")
        run: asyncio.subprocess.Process | None = None
        try:
            async with aiohttp.ClientSession() as http:

                async def sim_up() -> bool:
                    return await _get_json(http, f"{spot_url}/api/v3/time") is not None

                await _until(sim_up, 60, "the simulator")
                sent_ms = time.time() * 1000
                server_ms = (await _get_json(http, f"{spot_url}/api/v3/time"))["serverTime"]
                offset_ms = server_ms - (sent_ms + time.time() * 1000) / 2
                config = _run_config(tmp, spot_url, futures_url, receiver.url, api_port, grouping)
                run = await _spawn(["run", "--config", str(_write(tmp / "run.yaml", config))], tmp, "run")

                async def ready() -> bool:
                    try:
                        async with http.get(f"http://127.0.0.1:{api_port}/readyz") as response:
                            return response.status == 200
                    except aiohttp.ClientError:
                        return False

                try:
                    await _until(ready, SETUP_TIMEOUT_S, "cryptoradar run ready")
                except SystemExit as e:
                    tail = (tmp / "run.stderr").read_text()[-800:]
                    raise SystemExit(f"{e}; the end of its stderr:\n{tail}") from None
                pid = run.pid
                frames0, cpu0, t0 = (
                    await _metric(http, api_port, "cryptoradar_frames_total"),
                    _cpu_s(pid),
                    time.time(),
                )
                start_ms = t0 * 1000 + offset_ms
                await asyncio.sleep(minutes * 60)  # the measured window itself
                frames1, cpu1, t1 = (
                    await _metric(http, api_port, "cryptoradar_frames_total"),
                    _cpu_s(pid),
                    time.time(),
                )
                dropped = await _metric(http, api_port, "cryptoradar_queue_dropped_total")
                memory = _mem_mib(pid)
        finally:
            if run is not None:
                await _stop(run)
            await _stop(sim)
            await runner.cleanup()
    latencies = [
        received_ms + offset_ms - _close_ms(ts)
        for received_ms, ts in receiver.received
        if _close_ms(ts) > start_ms  # closes inside the window only, not the bootstrap's last bar
    ]
    label = "default grouping" if grouping else "grouping off"
    window_s = t1 - t0
    print(f"-- {label}: {len(latencies)} alerts over {window_s:.0f} s")
    if latencies:
        print(
            f"   bar close -> webhook received: p50 {_pct(latencies, 0.5):.0f} ms, p95 {_pct(latencies, 0.95):.0f} ms, "
            f"p99 {_pct(latencies, 0.99):.0f} ms, max {max(latencies):.0f} ms, mean {statistics.mean(latencies):.0f} ms"
        )
    print(
        f"   run child: {(frames1 - frames0) / window_s:,.0f} frames/s, CPU {(cpu1 - cpu0) / window_s:.1%} of a core, "
        f"RSS {memory.get('VmRSS', 0):.0f} MiB (peak {memory.get('VmHWM', 0):.0f} MiB), queue drops {dropped:.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=4.0, help="measured window per configuration")
    parser.add_argument("--only", choices=("default", "off"), help="run one configuration")
    args = parser.parse_args()
    print(
        f"sim: {SPOT_SYMBOLS} spot + {FUTURES_SYMBOLS} USD-M symbols at 1x; load avg {os.getloadavg()[0]:.1f}"
    )
    for grouping in (True, False):
        if args.only is None or args.only == ("default" if grouping else "off"):
            asyncio.run(_measure(grouping, args.minutes))


if __name__ == "__main__":
    main()
