"""Console, JSON-lines and structlog sinks: local output only."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import structlog
from rich.console import Console

from cryptoradar.core.clock import ManualClock
from cryptoradar.core.errors import PermanentError
from cryptoradar.events import Severity
from cryptoradar.sinks.console import ConsoleSink
from cryptoradar.sinks.logfile import FsyncPolicy, JsonLinesSink, StructlogSink
from fakes.alerts import HOSTILE_LABEL, sample_alert


async def test_console_prints_markup_literally_and_colours_by_severity() -> None:
    out = io.StringIO()
    sink = ConsoleSink(Console(file=out, force_terminal=True, color_system="standard", width=200))
    alerts = [
        sample_alert(1, title="[bold]" + HOSTILE_LABEL, severity=Severity.INFO),
        sample_alert(2, severity=Severity.CRITICAL),
    ]
    [notification] = sink.pack(alerts)
    await sink.send(notification)
    printed = out.getvalue()
    assert "[bold]" + HOSTILE_LABEL in printed
    assert "\x1b[36mINFO" in printed  # cyan
    assert "\x1b[1;37;41mCRITICAL" in printed  # bold white on red
    # The body is printed once; the structured fields (same values) are not repeated under it.
    assert printed.count("Close above the 20-bar high on 3x volume.") == 2
    assert "Entry: " not in printed


@pytest.mark.parametrize("fsync", list(FsyncPolicy))
async def test_json_lines_are_appended_across_reopen(tmp_path: Path, fsync: FsyncPolicy) -> None:
    path = tmp_path / "nested" / "alerts.jsonl"
    for batch in ([sample_alert(1, title=HOSTILE_LABEL), sample_alert(2)], [sample_alert(3)]):
        sink = JsonLinesSink(path, fsync=fsync, clock=ManualClock(1_767_225_600_000_000_000))
        for notification in sink.pack(batch):
            await sink.send(notification)
        await sink.close()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["alert_id"] for line in lines] == [1, 2, 3]
    assert lines[0]["title"] == HOSTILE_LABEL
    assert lines[0]["fields"] == {"Entry": "97000.5", "SL": "96100", "TP1": "98500"}
    assert lines[0]["logged_at"] == "2026-01-01T00:00:00+00:00"
    assert lines[0]["channel"] == "log"
    assert lines[0]["severity"] == "high"


async def test_json_lines_to_a_directory_is_permanent(tmp_path: Path) -> None:
    sink = JsonLinesSink(tmp_path)
    with pytest.raises(PermanentError):
        await sink.send(sink.pack([sample_alert()])[0])
    await sink.close()


async def test_structlog_sink_emits_one_event_per_alert() -> None:
    sink = StructlogSink()
    with structlog.testing.capture_logs() as events:
        await sink.send(sink.pack([sample_alert(1), sample_alert(2)])[0])
    assert [(e["event"], e["alert_id"]) for e in events] == [("alert", 1), ("alert", 2)]
