"""Kill the alert pipeline with SIGKILL at random moments; nothing may be lost, duplicates <= 1 per kill.

A real child process (alert_crash_child.py) submits a deterministic stream and delivers it to an aiohttp
stub in this process, which records every alert id it receives. The child is killed >= 20 times and
restarted (it resubmits the whole stream; dedup makes that idempotent), then runs to completion.
Run once on a SQLite file and once on a real PostgreSQL server.
"""

from __future__ import annotations

import asyncio
import random
import sys
from collections import Counter
from pathlib import Path

import pytest
from process_harness import webhook_stub

from cryptoradar.config.storage import StorageBackend
from stores import StoreFactory

CHILD = Path(__file__).with_name("alert_crash_child.py")
SIGNALS = 400
KILLS = 22


async def _spawn(db: str, url: str, log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as stderr:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(CHILD),
            db,
            url,
            str(SIGNALS),
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
        )
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), timeout=30)
    assert line.strip() == b"READY", f"child did not start: {line!r}; see {log}"
    return proc


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_sigkill_loses_nothing_and_duplicates_at_most_one_per_kill(
    tmp_path: Path, stores: StoreFactory
) -> None:
    rng = random.Random(20260101)
    config, log = stores.config, tmp_path / "child.log"
    db = (
        config.postgres_dsn.get_secret_value()
        if config.backend is StorageBackend.POSTGRES
        else str(config.sqlite_path)
    )
    # The crash child POSTs a bare JSON list of alert ids.
    async with webhook_stub(alert_ids=list) as hook:
        kills = 0
        for _ in range(KILLS):
            proc = await _spawn(db, hook.url, log)
            # The kill moment is the thing under test, so it is random by design (not a synchronisation).
            await asyncio.sleep(rng.uniform(0.0, 0.25))
            if proc.returncode is None:
                proc.kill()
                kills += 1
            await proc.wait()
        proc = await _spawn(db, hook.url, log)
        assert proc.stdout is not None
        assert (await asyncio.wait_for(proc.stdout.readline(), timeout=60)).strip() == b"DONE"
        assert await proc.wait() == 0
    received = hook.alert_ids

    store = stores.new()
    await store.open()
    try:
        alert_ids = {a.id for a in await store.list_alerts(limit=10 * SIGNALS)}
        states = Counter([d.state for a in alert_ids for d in await store.deliveries(a)])
    finally:
        await store.close()
    counts = Counter(received)
    duplicates = sum(n - 1 for n in counts.values())
    print(
        f"\ncrash test ({config.backend}): kills={kills} alerts={len(alert_ids)} received={len(received)} "
        f"unique={len(counts)} duplicates={duplicates} max_per_alert={max(counts.values())} states={dict(states)}"
    )
    assert kills >= 20
    assert len(alert_ids) == SIGNALS
    assert states == {"sent": SIGNALS}
    assert set(counts) == alert_ids  # none missing, nothing unknown
    assert duplicates <= kills
