"""CPU used by the simulator serving 300 spot symbols of 1m klines at 60x (one client on all streams).

Run: `.venv/bin/python -m benchmarks sim_cpu`  -> prints CPU seconds per wall second of the server.
"""

from __future__ import annotations

import asyncio
import json
import resource
import time

import websockets

from cryptoradar.sim import SimOptions, Simulator


async def measure(wall_s: float = 20.0) -> None:
    async with Simulator(SimOptions(seed=7, symbols=300, acceleration=60.0)) as sim:
        names = [f"{s.lower()}@kline_1m" for s in sim.symbols[:300]]
        frames = 0
        async with websockets.connect(f"{sim.spot_ws_url}/ws") as ws:
            await ws.send(json.dumps({"method": "SUBSCRIBE", "params": names, "id": 1}))
            cpu0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            while time.perf_counter() - t0 < wall_s:
                await ws.recv()
                frames += 1
            cpu1, t1 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
        print(
            f"frames/s {frames / (t1 - t0):.0f}; process CPU {cpu / (t1 - t0):.3f} core (server + client in one process)"
        )


def main() -> None:
    asyncio.run(measure())


if __name__ == "__main__":
    main()
