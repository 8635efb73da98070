"""Offline never drops: `cryptoradar replay` of the real recordings at full speed processes every event the
parser produces from them (count in == count processed, by event type)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from process_harness import spawn

from conftest import shared_data
from cryptoradar.sources.replay import replay_frames

_ROW = re.compile(r"events: (\w+)\s*│\s*([\d,]+)")


async def test_full_speed_replay_of_real_recordings_processes_every_event(tmp_path: Path) -> None:
    recordings = sorted((shared_data() / "ws").glob("*-session-*.txt"))
    assert recordings, "the real WebSocket recordings"
    expected = Counter(type(e).__name__ for path in recordings for f in replay_frames(path) for e in f.events)

    child = await spawn(["replay", *map(str, recordings)], tmp_path, "replay")
    assert await child.wait(120) == 0, child.stderr.read_text()[-500:]
    processed = Counter({kind: int(n.replace(",", "")) for kind, n in _ROW.findall(child.stdout.read_text())})

    assert sum(expected.values()) > 2_000
    assert processed == expected
