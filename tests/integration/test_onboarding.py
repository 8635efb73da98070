"""Onboarding through the installed `cryptoradar` command in child processes: --version, silences."""

from __future__ import annotations

import json
import os
import subprocess
from importlib.metadata import version
from pathlib import Path
from typing import Any

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


def effective(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_dotenv_in_the_working_directory_feeds_interpolation_and_overrides(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(
        "alerts:\n  channels:\n    tg:\n      type: telegram\n      bot_token: ${TG_TOKEN}\n"
        "      chat_id: ${TG_CHAT}\n",
        encoding="utf-8",
    )
    (tmp_path / ".env").write_text(
        "# the shipped .env.example layout\nTG_TOKEN=123:abc\nTG_CHAT='4242'\nCRYPTORADAR__API__PORT=9123\n",
        encoding="utf-8",
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TG_", "CRYPTORADAR"))}
    from_file = effective(cli("config", "check", "config.yaml", cwd=tmp_path, env=clean))
    assert from_file["alerts"]["channels"]["tg"]["chat_id"] == "4242"
    assert from_file["api"]["port"] == 9123

    real = {**clean, "TG_CHAT": "7", "CRYPTORADAR__API__PORT": "9124"}
    from_env = effective(cli("config", "check", "config.yaml", cwd=tmp_path, env=real))
    assert from_env["alerts"]["channels"]["tg"]["chat_id"] == "7"
    assert from_env["api"]["port"] == 9124

    elsewhere = tmp_path / "sub"
    elsewhere.mkdir()
    (elsewhere / "prod.env").write_text("TG_TOKEN=1:x\nTG_CHAT=99\n", encoding="utf-8")
    named = cli("--env-file", "sub/prod.env", "config", "check", "config.yaml", cwd=tmp_path, env=clean)
    assert effective(named)["alerts"]["channels"]["tg"]["chat_id"] == "99"
    assert effective(named)["api"]["port"] == 8765  # only the named file is read, not ./.env

    missing = cli("--env-file", "nope.env", "config", "check", "config.yaml", cwd=tmp_path, env=clean)
    assert missing.returncode == 2
    assert "env file nope.env does not exist" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_an_unfilled_dotenv_line_is_reported_as_unset(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(
        "alerts:\n  channels:\n    tg:\n      type: telegram\n      bot_token: ${TG_TOKEN}\n      chat_id: '1'\n",
        encoding="utf-8",
    )
    (tmp_path / ".env").write_text("TG_TOKEN=\n", encoding="utf-8")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TG_", "CRYPTORADAR"))}
    result = cli("config", "check", "config.yaml", cwd=tmp_path, env=clean)
    assert result.returncode == 2
    assert "environment variable TG_TOKEN is not set" in result.stderr
