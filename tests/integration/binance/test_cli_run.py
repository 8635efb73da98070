"""`cryptoradar run` as a process with Binance unreachable, and the bootstrap progress bar it draws."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import socket
import sys
from pathlib import Path

import yaml
from rich.console import Console
from sim_feed import sim_config

from conftest import eventually
from cryptoradar.config.binance import UniverseConfig
from cryptoradar.events import Market
from cryptoradar.sim import SimOptions, Simulator
from cryptoradar.sources.binance.feed import BinanceFeed, rich_bootstrap_progress

CLI = Path(sys.executable).with_name("cryptoradar")


def closed_port() -> int:
    """A loopback port nothing listens on: connecting to it is refused, like an unreachable exchange."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def offline_config(tmp_path: Path) -> Path:
    port = closed_port()
    endpoints = {"weight_budget_per_min": 1000, "streams_per_connection": 200, "control_messages_per_s": 3}
    config = {
        "log": {"level": "INFO", "format": "json"},
        "binance": {
            "spot": {"rest_url": f"http://127.0.0.1:{port}", "ws_url": f"ws://127.0.0.1:{port}", **endpoints},
            "futures": {
                "rest_url": f"http://127.0.0.1:{port}",
                "ws_url": f"ws://127.0.0.1:{port}",
                **endpoints,
            },
            "reconnect_initial_s": 0.05,
            "reconnect_max_s": 0.3,
        },
        "storage": {"sqlite_path": str(tmp_path / "radar.db")},
        "api": {"enabled": False},
    }
    path = tmp_path / "offline.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def log_events(path: Path) -> list[dict[str, object]]:
    events = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("{"):
            events.append(json.loads(line))
    return events


async def test_run_without_network_says_binance_is_unreachable_keeps_retrying_and_stops_cleanly(
    tmp_path: Path,
) -> None:
    stdout, stderr = tmp_path / "run.stdout", tmp_path / "run.stderr"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        proc = await asyncio.create_subprocess_exec(
            str(CLI), "run", "--config", str(offline_config(tmp_path)), stdout=out, stderr=err,
            env={**os.environ, "COLUMNS": "200"},
        )  # fmt: skip
    try:

        def retries(market: str) -> int:
            return sum(
                e.get("event") == "binance_unreachable" and e.get("market") == market
                for e in log_events(stderr)
            )

        await eventually(lambda: retries("spot") >= 4 and retries("usdm") >= 4, 30, "repeated retries")
        assert proc.returncode is None, "still running while Binance is away"
        # After a few failed attempts the operator hears it in plain words, with the retry delay.
        await eventually(
            lambda: any(
                e.get("event") == "operator_alert" and "Binance unreachable" in str(e.get("detail"))
                for e in log_events(stderr)
            ),
            30,
            "an operator alert saying Binance is unreachable",
        )
        proc.send_signal(signal.SIGINT)
        # Stopped before Binance ever answered is not a success (issue 14): exit 1, saying why.
        assert await asyncio.wait_for(proc.wait(), timeout=30) == 1
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    text = stderr.read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in text
    assert any(e.get("event") == "radar_stopped" for e in log_events(stderr))
    detail = next(str(e["detail"]) for e in log_events(stderr) if e.get("event") == "operator_alert")
    assert "retrying in" in detail
    assert text.strip().splitlines()[-1].startswith("error: stopped before Binance answered")


async def test_bootstrap_draws_a_rich_progress_bar_per_market_then_goes_quiet() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=120)
    opts = SimOptions(seed=4, symbols=40, acceleration=60.0, intervals=("1m",), futures_symbols=1)
    async with Simulator(opts) as sim:
        config = sim_config(sim, bootstrap_bars=20)
        universe = UniverseConfig(min_avg_hourly_quote_volume=0, futures=False)
        updates: list[tuple[int, int]] = []
        with rich_bootstrap_progress(console) as draw:

            def progress(market: Market, done: int, total: int) -> None:
                updates.append((done, total))
                draw(market, done, total)

            feed = BinanceFeed(config, universe, sim.clock, progress=progress)
            await feed.start()
            try:
                await feed.wait_bootstrapped()
                series = len(feed.market(Market.SPOT).symbols)
                await eventually(lambda: "bootstrap spot bars" in buffer.getvalue(), 5, "the bar drawn")
            finally:
                await feed.stop()
        assert series >= 30
        assert [d for d, _ in updates] == list(range(1, series + 1))
        assert {t for _, t in updates} == {series}
        drawn = buffer.getvalue()
        assert "100%" in drawn
        draw(Market.SPOT, 1, 1)  # after the block (a symbol joining later): nothing more is drawn
        assert buffer.getvalue() == drawn
