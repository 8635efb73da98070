"""`cryptoradar sim --start now --port --futures-port --acceleration`: a real-time exchange on the wall clock."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import aiohttp
from process_harness import free_port, spawn

from conftest import eventually


async def test_sim_starts_now_at_real_time_on_the_given_ports(tmp_path: Path) -> None:
    spot_port, futures_port = free_port(), free_port()
    args = ["sim", "--start", "now", "--port", str(spot_port), "--futures-port", str(futures_port)]
    child = await spawn([*args, "--acceleration", "1"], tmp_path, "sim")
    try:
        async with aiohttp.ClientSession() as http:
            answers: dict[str, object] = {}

            async def answered(url: str) -> bool:
                try:
                    async with http.get(url) as response:
                        answers[url] = await response.json()
                        return response.status == 200
                except aiohttp.ClientConnectionError:
                    return False

            spot_time = f"http://127.0.0.1:{spot_port}/api/v3/time"
            await eventually(lambda: answered(spot_time), 60, "the spot port answering")
            server_ms = answers[spot_time]["serverTime"]  # type: ignore[index]
            assert abs(server_ms - time.time() * 1000) < 5_000, "the exchange clock is the wall clock"
            klines = f"http://127.0.0.1:{futures_port}/fapi/v1/klines?symbol=BTCUSDT&interval=1m&limit=3"
            before_ms = int(time.time() * 1000)
            assert await answered(klines)
            after_ms = int(time.time() * 1000)
            newest_open_ms = answers[klines][-1][0]  # type: ignore[index]
            # The bar in progress is the current wall-clock minute: history ends where a client's clock is.
            assert before_ms // 60_000 * 60_000 <= newest_open_ms <= after_ms // 60_000 * 60_000
    finally:
        child.send(signal.SIGINT)
        assert await child.wait(15) == 0
