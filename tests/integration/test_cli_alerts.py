"""`cryptoradar alerts ...` against a real store file and a real JSON-lines channel."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cryptoradar.cli import app


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        f"storage:\n  sqlite_path: {tmp_path / 'radar.db'}\n"
        f"alerts:\n  channels:\n    file:\n      type: log\n      path: {tmp_path / 'alerts.jsonl'}\n"
        "  default_channels: [file]\n  fallback_channels: [file]\n",
        encoding="utf-8",
    )
    return path


def test_alerts_test_delivers_through_the_named_channel(config_file: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["alerts", "test", "file", "-c", str(config_file)])
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "alerts.jsonl").read_text().splitlines()
    assert len(lines) == 1
    assert "TESTUSDT" in json.loads(lines[0])["title"]

    unknown = CliRunner().invoke(app, ["alerts", "test", "nope", "-c", str(config_file)])
    assert unknown.exit_code == 1


def test_silence_round_trip_and_bad_matcher(config_file: Path) -> None:
    runner = CliRunner()
    created = runner.invoke(
        app, ["alerts", "silence", 'symbol="BTCUSDT"', "--hours", "2", "-c", str(config_file)]
    )
    assert created.exit_code == 0, created.output
    silence_id = created.output.split()[1]
    assert runner.invoke(app, ["alerts", "unsilence", silence_id, "-c", str(config_file)]).exit_code == 0
    assert runner.invoke(app, ["alerts", "unsilence", silence_id, "-c", str(config_file)]).exit_code == 1
    bad = runner.invoke(app, ["alerts", "silence", "symbol", "-c", str(config_file)])
    assert bad.exit_code == 2


def test_list_shows_an_empty_store_without_error(config_file: Path) -> None:
    result = CliRunner().invoke(app, ["alerts", "list", "-c", str(config_file)])
    assert result.exit_code == 0, result.output
    assert "alerts in" in result.output
