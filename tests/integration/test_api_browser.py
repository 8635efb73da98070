"""The dashboard in a real headless Chromium, driven over the Chrome DevTools Protocol (no Selenium/Playwright).

Against in-memory ports: the page loads without script errors, renders the chart with alert markers, shows
an alert published through the `LiveHub` within seconds, and a silence created and deleted by clicking in
the page reaches the alerts port (artifacts/dashboard.png).

Against a running radar and the simulator: the page shows the pipeline's live alerts within seconds, a
stalled stream in "Stale symbols" until the gap fill, and a silence created in the page stops that symbol's
alerts while the others go on (artifacts/dashboard-radar.png).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from api_harness import NOW_MS, Harness, make_signal, running_api
from operate_harness import base_settings, running_radar

from conftest import eventually
from cryptoradar.api.live import LiveKind
from cryptoradar.api.views import AlertView
from cryptoradar.core.metrics import SIGNALS
from cryptoradar.events import Market
from cryptoradar.sim import Fault, FaultKind

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts"
VIEWPORT = (1280, 1100)


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of chromium; installed by scripts/install-chromium.sh in CI, skipped elsewhere when absent."""
    found = shutil.which("chromium")
    if found is None and os.environ.get("CI"):
        subprocess.run([str(REPO / "scripts" / "install-chromium.sh")], check=True, timeout=900)
        found = shutil.which("chromium")
        assert found is not None, "scripts/install-chromium.sh did not put chromium on PATH"
    if found is None:
        pytest.skip("chromium not installed (run scripts/install-chromium.sh; CI installs it automatically)")
    return found


class DevTools:
    """A minimal CDP client over one browser WebSocket with a flattened page session."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._next_id = 1
        self._pending: dict[int, asyncio.Future[dict[str, object]]] = {}
        self.session_id = ""
        self.exceptions: list[str] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self._ws:
            payload = json.loads(message.data)
            if "id" in payload:
                future = self._pending.pop(payload["id"])
                if "error" in payload:
                    future.set_exception(RuntimeError(str(payload["error"])))
                else:
                    future.set_result(payload.get("result", {}))
            elif payload.get("method") == "Runtime.exceptionThrown":
                self.exceptions.append(str(payload["params"]["exceptionDetails"]))

    async def send(
        self, method: str, params: dict[str, object] | None = None, *, page: bool = True
    ) -> dict[str, object]:
        message_id = self._next_id
        self._next_id += 1
        future: asyncio.Future[dict[str, object]] = asyncio.get_running_loop().create_future()
        self._pending[message_id] = future
        message: dict[str, object] = {"id": message_id, "method": method, "params": params or {}}
        if page:
            message["sessionId"] = self.session_id
        await self._ws.send_str(json.dumps(message))
        return await asyncio.wait_for(future, 30)

    async def evaluate(self, expression: str) -> object:
        result = await self.send(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True}
        )
        if "exceptionDetails" in result:
            raise AssertionError(f"page script failed: {result['exceptionDetails']}")
        value = result["result"]
        assert isinstance(value, dict)
        return value.get("value")

    async def click(self, selector: str) -> None:
        """A real mouse click at the centre of the element, as a user would."""
        box = await self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)}); e.scrollIntoView();"
            " const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        assert isinstance(box, list), f"no element {selector}"
        for kind in ("mousePressed", "mouseReleased"):
            await self.send(
                "Input.dispatchMouseEvent",
                {"type": kind, "x": box[0], "y": box[1], "button": "left", "clickCount": 1},
            )

    async def type_into(self, selector: str, text: str) -> None:
        await self.click(selector)
        await self.send("Input.insertText", {"text": text})

    async def close(self) -> None:
        self._reader.cancel()
        await asyncio.wait([self._reader])


@contextlib.asynccontextmanager
async def browser_page(chromium: str, url: str, profile: Path) -> AsyncIterator[DevTools]:
    process = await asyncio.create_subprocess_exec(
            chromium, "--headless", "--remote-debugging-port=0", "--no-sandbox", "--disable-gpu",
            "--disable-dev-shm-usage", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--no-default-browser-check", f"--user-data-dir={profile}",
            f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}", "about:blank",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    port_file = profile / "DevToolsActivePort"
    try:
        await eventually(port_file.exists, timeout_s=60, what="chromium to open its DevTools port")
        await eventually(lambda: len(port_file.read_text().splitlines()) == 2, what="the DevTools port file")
        port, path = port_file.read_text().splitlines()
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(f"ws://127.0.0.1:{port}{path}", max_msg_size=64 * 1024 * 1024) as ws,
        ):
            tools = DevTools(ws)
            target = await tools.send("Target.createTarget", {"url": "about:blank"}, page=False)
            attached = await tools.send(
                "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}, page=False
            )
            tools.session_id = str(attached["sessionId"])
            await tools.send("Runtime.enable")
            await tools.send("Page.enable")
            await tools.send(
                "Emulation.setDeviceMetricsOverride",
                {"width": VIEWPORT[0], "height": VIEWPORT[1], "deviceScaleFactor": 1, "mobile": False},
            )
            await tools.send("Page.navigate", {"url": url})
            try:
                yield tools
            finally:
                await tools.close()
    finally:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()


async def save_screenshot(tools: DevTools, name: str) -> None:
    """The whole page as artifacts/<name> (a PNG, kept for a human to look at)."""
    ARTIFACTS.mkdir(exist_ok=True)
    height = await tools.evaluate("window.scrollTo(0, 0); document.documentElement.scrollHeight")
    clip = {"x": 0, "y": 0, "width": VIEWPORT[0], "height": height, "scale": 1}
    shot = await tools.send(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
    )
    png = base64.b64decode(str(shot["data"]))
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    (ARTIFACTS / name).write_bytes(png)


async def page_text(tools: DevTools, selector: str) -> str:
    text = await tools.evaluate(f"document.querySelector({json.dumps(selector)})?.textContent ?? ''")
    assert isinstance(text, str)
    return text


async def publish_live_alert(h: Harness, tools: DevTools) -> float:
    """Publishes one alert and returns seconds until the page shows it."""
    await eventually(
        lambda: h.hub.subscriber_count == 1, timeout_s=20, what="the page to open its live stream"
    )
    started = time.perf_counter()
    h.hub.publish(LiveKind.ALERT, AlertView(1000, NOW_MS, make_signal("LIVEUSDT", "radar", kind="whale")))

    async def shown() -> bool:
        return "LIVEUSDT" in await page_text(tools, "#alert-feed")

    await eventually(shown, timeout_s=5, what="the live alert in the feed")
    return time.perf_counter() - started


@pytest.mark.slow
async def test_dashboard_in_chromium(chromium: str, tmp_path: Path) -> None:
    SIGNALS.labels("whale-watch", "accumulation").inc()
    async with running_api() as h, browser_page(chromium, f"{h.base_url}/", tmp_path / "profile") as tools:

        async def loaded() -> bool:
            return (
                await tools.evaluate(
                    "document.querySelectorAll('#alert-feed li').length >= 20"
                    " && document.querySelectorAll('#chart rect').length === 60"
                    " && document.querySelector('#readiness').textContent === 'ready'"
                    " && document.querySelectorAll('#connections tr').length === 2"
                    " && document.querySelector('#detector-counters').textContent.includes('whale-watch')"
                )
                is True
            )

        await eventually(loaded, timeout_s=20, what="the dashboard to load its panels")
        markers = await tools.evaluate("document.querySelectorAll('#chart path.marker').length")
        assert isinstance(markers, int)
        assert markers == sum(1 for a in h.alerts.alerts if a.signal.symbol == "BTCUSDT")
        assert "whale-watch" in await page_text(tools, "#detector-counters")

        seconds = await publish_live_alert(h, tools)
        print(f"live alert shown {seconds * 1000:.0f} ms after publish")

        await tools.type_into("#silence-value", "ETHUSDT")
        await tools.type_into("#silence-reason", "browser test")
        await tools.click("#silence-submit")
        await eventually(lambda: len(h.alerts.silences) == 1, what="the silence to reach the alerts port")
        (silence,) = h.alerts.silences.values()
        assert silence.matchers == ['symbol="ETHUSDT"']
        assert silence.reason == "browser test"

        async def listed() -> bool:
            return 'symbol="ETHUSDT"' in await page_text(tools, "#silences")

        await eventually(listed, what="the new silence in the page's list")
        await save_screenshot(tools, "dashboard.png")

        await tools.click(f"button[data-silence-id='{silence.id}']")
        await eventually(lambda: h.alerts.silences == {}, what="the deletion to reach the alerts port")
        assert tools.exceptions == []


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_dashboard_in_chromium_against_a_running_radar(chromium: str, tmp_path: Path) -> None:
    settings = base_settings(tmp_path, min_move_pct=0.0001)  # every closed 1m bar alerts
    # The page polls symbols every 10 s: the stalled stream must stay stale longer than that, so the feed
    # neither replaces the silent connection (stale_after_s, wall seconds) nor fetches the missing bars
    # (close_grace_ms, exchange time: 1,200,000 ms is 20 wall seconds at 60x) before the stall ends.
    slow_repair = {"close_grace_ms": 1_200_000, "stale_after_s": 60.0}
    settings = settings.model_copy(update={"binance": settings.binance.model_copy(update=slow_repair)})
    async with running_radar(tmp_path, settings) as (sim, radar):
        await radar.feed.wait_bootstrapped()
        base = f"http://127.0.0.1:{radar.api_port}"
        async with (
            aiohttp.ClientSession(base) as http,
            browser_page(chromium, f"{base}/", tmp_path / "profile") as tools,
        ):

            async def loaded() -> bool:
                return (
                    await tools.evaluate(
                        "document.querySelector('#readiness')?.textContent === 'ready'"
                        " && document.querySelectorAll('#connections tr').length >= 2"
                        " && document.querySelectorAll('#alert-feed li').length > 0"
                        " && document.querySelectorAll('#chart rect').length > 0"
                        " && document.querySelector('#detector-counters')?.textContent.includes('momentum')"
                    )
                    is True
                )

            await eventually(loaded, 30, "the dashboard showing the running radar")
            newest_at_load = await newest_alert_id(http)

            async def live_alert_shown() -> bool:
                keys = await tools.evaluate(
                    "[...document.querySelectorAll('#alert-feed li')].map((li) => li.dataset.key)"
                )
                assert isinstance(keys, list)
                return any(k.startswith("a") and int(k[1:]) > newest_at_load for k in keys)

            await eventually(live_alert_shown, 10, "an alert created after the page loaded, in its feed")

            stalled = min(radar.feed.market(Market.SPOT).symbols)
            sim.inject(Fault(FaultKind.STALL, Market.SPOT, stream=f"{stalled.lower()}@kline_1m",
                             duration_wall_s=20.0))  # fmt: skip

            async def stale_listed() -> bool:
                return f"spot:{stalled} 1m" in await page_text(tools, "#stale-symbols")

            await eventually(stale_listed, 40, f"{stalled} under Stale symbols")

            silenced = max(radar.feed.market(Market.SPOT).symbols)
            await tools.type_into("#silence-value", silenced)
            await tools.type_into("#silence-reason", "browser test")
            await tools.click("#silence-submit")

            async def silence_answered() -> bool:
                return bool(await page_text(tools, "#silence-message"))

            # The page's own answer first (a rejected silence fails here with the API's error, not as a
            # timeout), then its refreshed list.
            await eventually(silence_answered, 20, "the page's answer to the new silence")
            answer = await page_text(tools, "#silence-message")
            assert re.fullmatch(r"Silence \d+ created\.", answer), answer

            async def silence_listed() -> bool:
                return f'symbol="{silenced}"' in await page_text(tools, "#silences")

            await eventually(silence_listed, 10, "the new silence in the page's list")
            silence_active_from = await newest_alert_id(http)
            suppressed_before = radar.stats.suppressed

            async def others_alerted_since() -> set[str]:
                async with http.get("/api/alerts?limit=200") as response:
                    page = await response.json()
                return {a["signal"]["symbol"] for a in page["items"] if a["id"] > silence_active_from}

            async def bars_closed_under_the_silence() -> bool:
                return len(await others_alerted_since()) >= 5 and radar.stats.suppressed > suppressed_before

            await eventually(bars_closed_under_the_silence, 60, "alerts for other symbols after the silence")
            assert silenced not in await others_alerted_since(), "the silence took effect"

            async def stale_cleared() -> bool:
                return f"spot:{stalled} 1m" not in await page_text(tools, "#stale-symbols")

            await eventually(stale_cleared, 60, f"{stalled} fresh again after the gap fill")
            await save_screenshot(tools, "dashboard-radar.png")
            assert tools.exceptions == []


async def newest_alert_id(http: aiohttp.ClientSession) -> int:
    async with http.get("/api/alerts?limit=1") as response:
        items = (await response.json())["items"]
    return int(items[0]["id"]) if items else 0
