"""Real `cryptoradar` processes for lifecycle tests: a simulator process, a service process, a webhook stub."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from aiohttp import ClientError, ClientSession, ClientTimeout, web

CLI = Path(sys.executable).with_name("cryptoradar")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class WebhookStub:
    """Records every alert id POSTed to it."""

    url: str = ""
    alert_ids: list[int] = field(default_factory=list)
    status: int = 204
    """What it answers; ids are recorded only when it is a success (set 500 to fail the channel)."""
    requests: int = 0


def sink_alert_ids(body: Any) -> Iterable[int]:
    """The alert ids in a generic webhook sink body: {"alerts": [{"alert_id": ...}, ...]}."""
    return (a["alert_id"] for a in body["alerts"])


@asynccontextmanager
async def webhook_stub(
    alert_ids: Callable[[Any], Iterable[int]] = sink_alert_ids,
) -> AsyncIterator[WebhookStub]:
    """An aiohttp server on a free port; `alert_ids` reads the ids out of each JSON body."""
    stub = WebhookStub()

    async def handle(request: web.Request) -> web.Response:
        stub.requests += 1
        if stub.status < 300:
            stub.alert_ids.extend(alert_ids(await request.json()))
        return web.Response(status=stub.status)

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    stub.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        yield stub
    finally:
        await runner.cleanup()


async def probe(http: ClientSession, url: str) -> tuple[int, str] | None:
    """(status, body) of a GET, or None when nothing answers within a second."""
    try:
        async with http.get(url, timeout=ClientTimeout(total=1.0)) as response:
            return response.status, await response.text()
    except (ClientError, TimeoutError):
        return None


def write_yaml(path: Path, data: dict[str, object]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@dataclass
class Child:
    proc: asyncio.subprocess.Process
    stdout: Path
    stderr: Path

    def send(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    async def wait(self, timeout_s: float) -> int:
        return await asyncio.wait_for(self.proc.wait(), timeout=timeout_s)

    async def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


async def spawn(args: list[str], out_dir: Path, name: str, env: dict[str, str] | None = None) -> Child:
    stdout, stderr = out_dir / f"{name}.stdout", out_dir / f"{name}.stderr"
    with stdout.open("ab") as out, stderr.open("ab") as err:
        proc = await asyncio.create_subprocess_exec(
            str(CLI), *args, stdout=out, stderr=err, env={**os.environ, "COLUMNS": "200", **(env or {})}
        )
    return Child(proc, stdout, stderr)


@asynccontextmanager
async def simulator_process(
    tmp_path: Path, *, symbols: int = 40, futures_symbols: int = 8, acceleration: float = 180.0
) -> AsyncIterator[tuple[str, str]]:
    """`cryptoradar sim` in its own process; yields (spot base URL, futures base URL)."""
    spot_port, futures_port = free_port(), free_port()
    config = write_yaml(
        tmp_path / "sim.yaml",
        {
            "log": {"level": "WARNING", "format": "json"},
            "sim": {
                "spot_port": spot_port,
                "futures_port": futures_port,
                "symbols": symbols,
                "futures_symbols": futures_symbols,
                "acceleration": acceleration,
                "seed": 9,
            },
        },
    )
    child = await spawn(["sim", "--config", str(config)], tmp_path, "sim")
    try:
        yield f"http://127.0.0.1:{spot_port}", f"http://127.0.0.1:{futures_port}"
    finally:
        child.send(signal.SIGTERM)
        try:
            await child.wait(10)
        except TimeoutError:
            await child.kill()
