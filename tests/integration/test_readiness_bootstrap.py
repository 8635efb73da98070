"""/readyz stays 503 while the feed bootstraps its series from REST, and turns 200 once every one is done."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
from operate_harness import base_settings

from conftest import eventually
from cryptoradar.app import Radar, settings_for
from cryptoradar.sim import SimOptions, Simulator


async def test_readyz_is_503_during_bootstrap_and_200_after(tmp_path: Path) -> None:
    # 400 spot series of 60 bars each: their bootstrap is still under way when the API answers first.
    options = SimOptions(seed=5, symbols=200, futures_symbols=10, acceleration=60.0, history_bars=120)
    async with Simulator(options) as sim:
        radar = Radar(settings_for(sim, base_settings(tmp_path), tmp_path), clock=sim.clock)
        await radar.start()
        try:
            url = f"http://127.0.0.1:{radar.api_port}/readyz"
            seen: list[tuple[int, dict[str, Any]]] = []
            async with aiohttp.ClientSession() as http:

                async def poll(status: int) -> bool:
                    async with http.get(url) as response:
                        seen.append(
                            (response.status, {c["name"]: c for c in (await response.json())["checks"]})
                        )
                    return response.status == status

                assert await poll(503)
                checks = seen[-1][1]
                assert checks["bootstrap"]["ok"] is False
                assert "bootstrapping: binance-spot" in checks["bootstrap"]["detail"]
                await eventually(lambda: poll(200), 90, "/readyz 200 after the bootstrap")

            feed = radar.feed_state()
            total = sum(m.bootstrap_total for m in feed.markets)
            series = [len(radar.feed.market(m.market).intervals) * m.symbols for m in feed.markets]
            assert total == sum(series) > 300, "every subscribed series of the universe was bootstrapped"
            assert all(m.bootstrapped and m.bootstrap_done == m.bootstrap_total for m in feed.markets)
            assert seen[-1][1]["bootstrap"] == {
                "name": "bootstrap",
                "ok": True,
                "detail": f"{total} series bootstrapped",
            }
            # Never ready while any market was still loading.
            for status, checks in seen:
                assert status == 503 or checks["bootstrap"]["ok"]
        finally:
            await radar.stop(timeout_s=15)
