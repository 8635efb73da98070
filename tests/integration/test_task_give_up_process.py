"""A real `cryptoradar run` whose store stays locked by another process: the state-saving task dies on
every write, is restarted with backoff and announced to the operator (webhook), and once it has not
recovered within `lifecycle.task_restart_give_up_s` the process stops (every shutdown step attempted,
each failure logged) and exits non-zero, so systemd or Docker restarts it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from process_harness import free_port, probe, simulator_process, spawn, webhook_stub, write_yaml
from test_app_lifecycle_process import IMPOSSIBLE_MOVE_PCT
from test_app_lifecycle_process import _config as lifecycle_config

from conftest import eventually


def _log_events(path: Path) -> list[dict[str, Any]]:
    events = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("{"):
            events.append(json.loads(line))
    return events


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_a_task_that_cannot_recover_ends_the_process_non_zero_after_notifying(tmp_path: Path) -> None:
    bodies: list[Any] = []

    def record(body: Any) -> list[int]:
        bodies.append(body)
        return [a["alert_id"] for a in body["alerts"]]

    async with (
        simulator_process(tmp_path, symbols=10, futures_symbols=2) as (spot_url, futures_url),
        webhook_stub(record) as hook,
    ):
        api_port = free_port()
        config = lifecycle_config(tmp_path, spot_url, futures_url, hook.url, api_port, IMPOSSIBLE_MOVE_PCT)
        config["lifecycle"] = {
            "shutdown_deadline_s": 40,
            "state_save_interval_s": 0.2,
            "task_restart_initial_s": 0.1,
            "task_restart_max_s": 0.5,
            "task_restart_give_up_s": 8,  # above the 5 s SQLite busy wait each death takes
        }
        path = write_yaml(tmp_path / "radar.yaml", config)
        run = await spawn(["run", "--config", str(path)], tmp_path, "run")
        locker: sqlite3.Connection | None = None
        try:
            async with aiohttp.ClientSession() as http:

                async def serving() -> bool:
                    answer = await probe(http, f"http://127.0.0.1:{api_port}/healthz")
                    return answer is not None and answer[0] == 200

                await eventually(serving, 60, "the service answering /healthz")
            locker = sqlite3.connect(tmp_path / "radar.db", isolation_level=None)
            locker.execute("BEGIN EXCLUSIVE")  # every write of the service now fails "database is locked"
            code = await run.wait(120)
        finally:
            if locker is not None:
                locker.close()
            await run.kill()

    assert code == 1, "a task that cannot recover makes the process exit non-zero"
    events = _log_events(run.stdout) + _log_events(run.stderr)
    names = [e.get("event") for e in events]
    failed = [e for e in events if e.get("event") == "task_failed" and e.get("task") == "radar:save-state"]
    assert len(failed) >= 2, "the dying task was restarted before it was given up"
    assert "task_gave_up" in names
    steps = [e.get("step") for e in events if e.get("event") == "shutdown_step_failed"]
    assert steps[:2] == ["series-state", "recent-bars"], "a failed step is logged and the next one still runs"
    assert names.index("radar_stopped") > names.index("task_gave_up"), "the shutdown ran to its end"
    notices = [json.dumps(a) for body in bodies for a in body["alerts"] if "save-state" in json.dumps(a)]
    assert any("restarting it in" in n for n in notices), "the operator heard of the dying task"
    assert any("kept failing" in n for n in notices), "the operator heard why the service stops"
