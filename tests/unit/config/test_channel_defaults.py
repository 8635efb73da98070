"""Adding a channel keeps the default console and log channels; removing one is explicit and, when
something still names it, the error points at the setting that does."""

from __future__ import annotations

from pathlib import Path

import pytest

from cryptoradar.config import load_settings
from cryptoradar.config.alerts import ChannelType
from cryptoradar.core.errors import ConfigError

WEBHOOK = "    hook:\n      type: webhook\n      url: http://127.0.0.1:9/x\n      secret: s\n"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_an_added_channel_keeps_console_and_log(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, "alerts:\n  channels:\n" + WEBHOOK))
    channels = settings.alerts.channels
    assert {name: c.type for name, c in channels.items()} == {
        "console": ChannelType.CONSOLE,
        "log": ChannelType.LOG,
        "hook": ChannelType.WEBHOOK,
    }
    assert settings.alerts.default_channels == ("console",)


def test_a_channel_named_like_a_default_replaces_it(tmp_path: Path) -> None:
    text = f"alerts:\n  channels:\n    log:\n      type: log\n      path: {tmp_path / 'a.jsonl'}\n"
    channels = load_settings(write(tmp_path, text)).alerts.channels
    assert channels["log"].type is ChannelType.LOG
    assert getattr(channels["log"], "path", None) == tmp_path / "a.jsonl"
    assert set(channels) == {"console", "log"}


def test_null_removes_a_default_and_the_error_names_what_still_uses_it(tmp_path: Path) -> None:
    path = write(tmp_path, "alerts:\n  channels:\n    console: null\n" + WEBHOOK)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = str(info.value)
    assert "alerts.default_channels names channel 'console', which is not defined" in message
    assert "defined: hook, log" in message
    assert "expected type" not in message  # not the generic advice for a wrongly typed value

    fixed = write(tmp_path, "alerts:\n  default_channels: [hook]\n  channels:\n    console: null\n" + WEBHOOK)
    assert set(load_settings(fixed).alerts.channels) == {"log", "hook"}
