"""Onboarding through the installed `cryptoradar` command in child processes: --version, silences."""

from __future__ import annotations

import os
import subprocess
from importlib.metadata import version
from pathlib import Path

from process_harness import CLI

_TIMEOUT_S = 120
WIDE = {**os.environ, "COLUMNS": "200"}  # table rows on one line each


def cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLI), *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=_TIMEOUT_S, check=False
    )


def test_version_prints_the_package_version() -> None:
    result = cli("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"cryptoradar {version('cryptoradar')}"


def test_silences_lists_a_silence_made_by_alerts_silence(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"storage:\n  sqlite_path: {tmp_path / 'radar.db'}\n", encoding="utf-8")
    created = cli(
        "alerts", "silence", 'symbol="BTCUSDT"', "--hours", "2", "--reason", "maintenance", "-c", str(config)
    )
    assert created.returncode == 0, created.stderr
    silence_id = created.stdout.split()[1]

    listed = cli("alerts", "silences", "-c", str(config), env=WIDE)
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if f" {silence_id} " in line)
    assert 'symbol="BTCUSDT"' in row
    assert "active" in row
    assert "maintenance" in row

    assert cli("alerts", "unsilence", silence_id, "-c", str(config)).returncode == 0
    emptied = cli("alerts", "silences", "-c", str(config), env=WIDE)
    assert 'symbol="BTCUSDT"' not in emptied.stdout
