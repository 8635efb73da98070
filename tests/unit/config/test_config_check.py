"""`cryptoradar config check` as a user runs it: the effective config as JSON with every secret redacted,
and config errors that name the key, the bad value and the fix (exit code 2)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

CLI = Path(sys.executable).with_name("cryptoradar")
CANARY = "canary-7c1e"
REDACTED = "**********"


def config_check(tmp_path: Path, config: dict[str, Any] | str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "config.yaml"
    path.write_text(config if isinstance(config, str) else yaml.safe_dump(config), encoding="utf-8")
    return subprocess.run(
        [str(CLI), "config", "check", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200", "CR_TEST_TG_TOKEN": f"1:{CANARY}-tg"},
    )


def secret_config() -> dict[str, Any]:
    """One secret of every kind the config holds: API token, DSN, channel credentials, RPC and webhook URLs."""
    return {
        "api": {"token": f"{CANARY}-api"},
        "storage": {"postgres_dsn": f"postgresql://radar:{CANARY}-pg@127.0.0.1:5432/radar"},
        "alerts": {
            "channels": {
                "log": {"type": "log"},
                "telegram": {"type": "telegram", "bot_token": "${CR_TEST_TG_TOKEN}", "chat_id": "42"},
                "discord": {"type": "discord", "webhook_url": f"https://discord.test/api/webhooks/1/{CANARY}-dc"},
                "email": {"type": "email", "host": "127.0.0.1", "password": f"{CANARY}-smtp",
                          "sender": "radar@example.org", "recipients": ["ops@example.org"]},
                "webhook": {"type": "webhook", "url": f"https://hook.test/{CANARY}-url",
                            "secret": f"{CANARY}-hook"},
                "apprise": {"type": "apprise", "urls": [f"json://hook.test/{CANARY}-apprise"]},
            },
            "default_channels": ["log"],
        },
        "evm": {
            "chains": [{"name": "polygon", "http_url": f"https://rpc.test/{CANARY}-rpc",
                        "explorer_api": {"api_key": f"{CANARY}-scan"}}],
        },
    }  # fmt: skip


def test_effective_config_is_printed_with_every_secret_redacted(tmp_path: Path) -> None:
    result = config_check(tmp_path, secret_config())
    assert result.returncode == 0, result.stderr
    assert CANARY not in result.stdout + result.stderr
    effective = json.loads(result.stdout)
    channels = effective["alerts"]["channels"]
    assert effective["api"]["token"] == REDACTED
    assert effective["storage"]["postgres_dsn"] == REDACTED
    assert channels["telegram"]["bot_token"] == REDACTED  # interpolated from the environment, then hidden
    assert channels["discord"]["webhook_url"] == REDACTED
    assert channels["email"]["password"] == REDACTED
    assert (channels["webhook"]["url"], channels["webhook"]["secret"]) == (REDACTED, REDACTED)
    assert channels["apprise"]["urls"] == [REDACTED]
    chain = effective["evm"]["chains"][0]
    assert (chain["http_url"], chain["explorer_api"]["api_key"]) == (REDACTED, REDACTED)
    # Not secret, so shown as they are: the packaged defaults for the market data.
    assert effective["binance"]["futures"]["ws_url"] == "wss://fstream.binance.com"
    assert effective["universe"]["quote_asset"] == "USDT"
    assert channels["telegram"]["chat_id"] == "42"


def test_errors_name_key_bad_value_and_fix_without_leaking_secrets(tmp_path: Path) -> None:
    config = secret_config()
    config["binance"] = {"bootstrap_bars": 5000, "spot_intervalz": ["1m"]}
    config["api"]["token"] = [f"{CANARY}-api"]  # wrong type for a secret: the value must not be echoed
    result = config_check(tmp_path, config)
    assert result.returncode == 2
    assert result.stdout == ""
    message = " ".join(result.stderr.split())  # rich may wrap long lines
    assert "binance.bootstrap_bars: Input should be less than or equal to 1000 (got 5000)" in message
    assert "use a value inside the stated range" in message
    assert "binance.spot_intervalz: unknown key; remove it or check its spelling" in message
    assert "api.token" in message
    assert CANARY not in result.stderr


def test_missing_environment_variable_names_the_key_and_the_variable(tmp_path: Path) -> None:
    result = config_check(tmp_path, "api:\n  host: ${CR_TEST_NEVER_SET_VARIABLE}\n")
    assert result.returncode == 2
    message = " ".join(result.stderr.split())
    assert "api.host: environment variable CR_TEST_NEVER_SET_VARIABLE is not set" in message
