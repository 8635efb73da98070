"""Chaos over the real pipeline: a simulator process, `cryptoradar run` in a child process, local
webhook receivers. Every alert goes to two channels, one of which answers 401 forever (its alerts fail
over to the other). Over 20 SIGKILL-and-restart rounds the working receiver fails with 500 for a stretch, the store
is locked by another process (every write busy) until the pipeline has retried through it, and the
event loop is frozen (SIGSTOP) until `/healthz` stops answering. Afterwards every stored alert (one per
distinct signal) reached the receiver, none is lost, and duplicates stay within one per kill.

Figures are printed for docs/reliability.md."""

from __future__ import annotations

import signal
import sqlite3
from contextlib import closing
from pathlib import Path

import aiohttp
import pytest
from process_harness import Child, free_port, probe, simulator_process, spawn, webhook_stub, write_yaml
from test_app_lifecycle_process import _config as lifecycle_config

from conftest import eventually

KILLS = 20
FAILING_ROUNDS = range(4, 9)
"""Rounds during which the receiver answers 500."""
LOCKED_ROUND = 11
FROZEN_ROUND = 15
_RETRIED = 'cryptoradar_pipeline_errors_total{error="OperationalError",outcome="retried",stage="admit"}'


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_kills_failing_sink_locked_store_and_frozen_loop_lose_no_alert(tmp_path: Path) -> None:
    async with (
        simulator_process(tmp_path, symbols=8, futures_symbols=2) as (spot_url, futures_url),
        webhook_stub() as hook,
        webhook_stub() as dead,
        aiohttp.ClientSession() as http,
    ):
        dead.status = 401  # forever: its alerts fail over to `hook`
        api_port = free_port()
        healthz, metrics = f"http://127.0.0.1:{api_port}/healthz", f"http://127.0.0.1:{api_port}/metrics"
        config = lifecycle_config(tmp_path, spot_url, futures_url, hook.url, api_port, move_pct=0.0001)
        alerts = config["alerts"]
        assert isinstance(alerts, dict)
        alerts["channels"]["dead"] = {**alerts["channels"]["hook"], "url": dead.url}
        alerts["default_channels"] = ["hook", "dead"]
        path = write_yaml(tmp_path / "radar.yaml", config)

        async def up() -> bool:
            return await probe(http, healthz) == (200, '{"status":"ok"}')

        def stored_alerts() -> int:
            if not (tmp_path / "radar.db").exists():
                return 0
            with closing(sqlite3.connect(tmp_path / "radar.db", timeout=0.1)) as db:
                try:
                    return int(db.execute("SELECT count(*) FROM alerts").fetchone()[0])
                except sqlite3.OperationalError:  # not created yet, or locked by the test itself
                    return 0

        async def started(round_no: int) -> Child:
            child = await spawn(["run", "--config", str(path)], tmp_path, f"run{round_no}")
            await eventually(up, 60, f"run {round_no} serving /healthz")
            return child

        for round_no in range(KILLS):
            hook.status = 500 if round_no in FAILING_ROUNDS else 204
            stored_before = stored_alerts()
            child = await started(round_no)
            try:
                if round_no == LOCKED_ROUND:
                    locker = sqlite3.connect(tmp_path / "radar.db", isolation_level=None)
                    locker.execute("BEGIN EXCLUSIVE")
                    try:

                        async def retried() -> bool:
                            got = await probe(http, metrics)
                            return got is not None and _RETRIED in got[1]

                        await eventually(retried, 60, "a signal retried through the locked store")
                    finally:
                        locker.close()
                if round_no == FROZEN_ROUND:
                    child.send(signal.SIGSTOP)
                    try:

                        async def frozen() -> bool:
                            return await probe(http, healthz) is None

                        await eventually(frozen, 10, "the frozen process not answering")
                    finally:
                        child.send(signal.SIGCONT)
                    await eventually(up, 30, "the process answering again")
                await eventually(
                    lambda before=stored_before: stored_alerts() > before, 60, f"run {round_no} alerting"
                )
            finally:
                await child.kill()  # SIGKILL mid-flight

        hook.status = 204
        stored_before = stored_alerts()
        final = await started(KILLS)
        try:
            await eventually(lambda: stored_alerts() > stored_before, 60, "the last run alerting")

            def all_sent() -> bool:
                """Nothing pending; only the dead channel's deliveries failed (each rerouted to `hook`)."""
                with closing(sqlite3.connect(tmp_path / "radar.db")) as db:
                    left = db.execute(
                        "SELECT count(*) FROM deliveries WHERE state != 'sent' "
                        "AND NOT (state = 'failed' AND channel = 'dead')"
                    ).fetchone()[0]
                return int(left) == 0

            await eventually(all_sent, 60, "every pending delivery sent after the last restart")
            final.send(signal.SIGTERM)
            assert await final.wait(30) == 0
        finally:
            await final.kill()

    db = sqlite3.connect(tmp_path / "radar.db")
    stored = {r[0] for r in db.execute("SELECT id FROM alerts")}
    delivered = [i for i in hook.alert_ids if i != 0]  # 0: operator notices (task deaths, the dead channel)
    lost = stored - set(delivered)
    duplicates = len(delivered) - len(set(delivered))
    print(
        f"\nchaos: {KILLS} SIGKILLs, 500s in {len(FAILING_ROUNDS)} runs, store locked once, loop frozen once; "
        f"{len(stored)} alerts stored, {len(set(delivered))} delivered, lost {len(lost)}, "
        f"duplicates {duplicates}, webhook requests {hook.requests}, 401s {dead.requests}"
    )
    assert dead.requests > 0, "the dead channel was tried"
    assert len(stored) >= KILLS, "alerts flowed in every run"
    assert lost == set(), f"alerts never delivered: {sorted(lost)[:10]}"
    assert set(delivered) <= stored
    assert duplicates <= KILLS, "at most one duplicate per kill"
