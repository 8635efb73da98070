"""Onboarding through the installed `cryptoradar` command in child processes: --version, `alerts
silences`, .env files, `init`."""

from __future__ import annotations

import json
import os
import pty
import subprocess
from importlib.metadata import version
from pathlib import Path
from typing import Any

from process_harness import CLI

_TIMEOUT_S = 120
WIDE = {**os.environ, "COLUMNS": "200"}  # table rows on one line each


def cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, stdin: int | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLI), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        stdin=stdin,
        timeout=_TIMEOUT_S,
        check=False,
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


CHANNEL_VARS = {
    "TELEGRAM_BOT_TOKEN": "123:abc",
    "TELEGRAM_CHAT_ID": "42",
    "ALERT_WEBHOOK_URL": "http://127.0.0.1:9/hook",
    "ALERT_WEBHOOK_SECRET": "s3cret",
    "DISCORD_WEBHOOK_URL": "https://discord.com/api/webhooks/1/x",
}


def test_init_writes_a_config_that_config_check_accepts(tmp_path: Path) -> None:
    written = cli("init", "radar.yaml", "--channel", "telegram", "--channel", "webhook", cwd=tmp_path)
    assert written.returncode == 0, written.stderr
    assert "TELEGRAM_BOT_TOKEN" in written.stdout  # tells what to put in .env
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in CHANNEL_VARS.items()), encoding="utf-8")
    checked = effective(cli("config", "check", "radar.yaml", cwd=tmp_path))
    channels = checked["alerts"]["channels"]
    assert {name: c["type"] for name, c in channels.items()} == {
        "console": "console",
        "log": "log",
        "telegram": "telegram",
        "webhook": "webhook",
    }
    assert channels["telegram"]["chat_id"] == "42"
    assert checked["alerts"]["default_channels"] == ["console", "telegram", "webhook"]
    assert checked["universe"]["quote_asset"] == "USDT"  # the packaged defaults came along

    again = cli("init", "radar.yaml", "--channel", "discord", cwd=tmp_path)
    assert again.returncode == 1
    assert "radar.yaml exists; pass --force" in again.stderr
    assert "telegram" in (tmp_path / "radar.yaml").read_text()  # untouched
    forced = cli("init", "radar.yaml", "--channel", "discord", "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert set(effective(cli("config", "check", "radar.yaml", cwd=tmp_path))["alerts"]["channels"]) == {
        "console",
        "log",
        "discord",
    }


def test_init_asks_for_channels_in_a_terminal(tmp_path: Path) -> None:
    controller, terminal = pty.openpty()
    try:
        os.write(controller, b"email, nope\ntelegram, discord\n")  # a typo is asked again
        result = cli("init", "radar.yaml", cwd=tmp_path, stdin=terminal)
    finally:
        os.close(terminal)
        os.close(controller)
    assert result.returncode == 0, result.stderr
    assert "Channels to add" in result.stdout
    assert "unknown channel nope" in result.stderr
    env = {**os.environ, **CHANNEL_VARS}
    channels = effective(cli("config", "check", "radar.yaml", cwd=tmp_path, env=env))["alerts"]["channels"]
    assert set(channels) == {"console", "log", "telegram", "discord"}
