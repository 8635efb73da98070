"""docs/channels.md stays true: every YAML example loads through the real config loader with the variables
.env.example lists, and `cryptoradar alerts test` (a child process) delivers through the Telegram,
Discord, e-mail and webhook examples to local fakes of those services."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

import pytest
from process_harness import CLI, webhook_stub

from conftest import eventually
from cryptoradar.config import Settings, load_settings
from cryptoradar.config.alerts import ChannelType
from fakes.discord import FakeDiscord
from fakes.smtp import plain_smtp
from fakes.telegram import FakeTelegram

ROOT = Path(__file__).resolve().parents[2]
_YAML_BLOCK = re.compile(r"^```yaml\n(.*?)^```$", re.MULTILINE | re.DOTALL)
_ENV_LINE = re.compile(r"^([A-Z][A-Z0-9_]*)=", re.MULTILINE)
_DEFAULTS = {"console", "log"}


def examples() -> list[str]:
    return _YAML_BLOCK.findall((ROOT / "docs" / "channels.md").read_text(encoding="utf-8"))


def example_env() -> dict[str, str]:
    """A value for every variable .env.example lists (so a doc `${VAR}` missing there fails to load)."""
    names = _ENV_LINE.findall((ROOT / ".env.example").read_text(encoding="utf-8"))
    return {name: f"test-{name.lower()}" for name in names}


def child_env(**overrides: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CRYPTORADAR")}
    return {**clean, **example_env(), **overrides}


def load(text: str, tmp_path: Path) -> Settings:
    path = tmp_path / "example.yaml"
    path.write_text(text, encoding="utf-8")
    env_file = tmp_path / "example.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in example_env().items()), encoding="utf-8")
    return load_settings(path, env_file=env_file)


@pytest.fixture(autouse=True)
def _no_ambient_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """The examples load with .env.example's variables, not whatever this shell happens to export."""
    for name in [*os.environ]:
        if name.startswith("CRYPTORADAR") or name in example_env():
            monkeypatch.delenv(name)


def test_every_example_loads_and_together_they_cover_every_channel(tmp_path: Path) -> None:
    blocks = examples()
    assert len(blocks) >= 9
    covered: set[ChannelType] = set()
    routed = False
    for text in blocks:
        alerts = load(text, tmp_path).alerts
        covered |= {c.type for c in alerts.channels.values()}
        routed |= bool(alerts.routes)
        assert set(alerts.channels) >= _DEFAULTS  # an added channel keeps the defaults
    assert covered == set(ChannelType)
    assert routed


def example_for(channel_type: ChannelType, tmp_path: Path) -> tuple[Path, str]:
    """The first example whose only added channel is of `channel_type`: (config file, channel name)."""
    for index, text in enumerate(examples()):
        channels = load(text, tmp_path).alerts.channels
        added = {name: c for name, c in channels.items() if name not in _DEFAULTS}
        if len(added) == 1 and next(iter(added.values())).type is channel_type:
            path = tmp_path / f"{channel_type}-{index}.yaml"
            path.write_text(text, encoding="utf-8")
            return path, next(iter(added))
    raise AssertionError(f"docs/channels.md has no example of a {channel_type} channel alone")


async def send_test(config: Path, channel: str, env: dict[str, str], cwd: Path) -> str:
    proc = await asyncio.create_subprocess_exec(
        str(CLI), "alerts", "test", channel, "-c", str(config),
        env=env, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode == 0, out.decode()
    return out.decode()


async def test_webhook_example_delivers_a_test_alert(tmp_path: Path) -> None:
    config, name = example_for(ChannelType.WEBHOOK, tmp_path)
    async with webhook_stub() as stub:
        out = await send_test(config, name, child_env(ALERT_WEBHOOK_URL=stub.url), tmp_path)
        assert "test alert delivered" in out
        assert stub.alert_ids == [0]  # the one test alert, once


async def test_email_example_delivers_a_test_alert(tmp_path: Path) -> None:
    config, name = example_for(ChannelType.EMAIL, tmp_path)
    with plain_smtp() as (inbox, port):
        # A local relay: no TLS, so no credentials; port and security through CRYPTORADAR__ overrides.
        env = child_env(
            SMTP_HOST="127.0.0.1",
            SMTP_USERNAME="",
            SMTP_PASSWORD="",
            ALERT_EMAIL_FROM="radar@example.org",
            ALERT_EMAIL_TO="trader@example.org",
            CRYPTORADAR__ALERTS__CHANNELS__EMAIL__PORT=str(port),
            CRYPTORADAR__ALERTS__CHANNELS__EMAIL__SECURITY="none",
        )
        await send_test(config, name, env, tmp_path)
        await eventually(lambda: len(inbox.messages) == 1, what="the test e-mail")
    message = inbox.messages[0]
    assert message["To"] == "trader@example.org"
    assert "TESTUSDT" in str(message["Subject"])


async def test_telegram_example_delivers_a_test_alert(tmp_path: Path) -> None:
    config, name = example_for(ChannelType.TELEGRAM, tmp_path)
    async with FakeTelegram() as fake:
        fake.add_bot("123:doc")
        fake.add_chat("-1001")
        env = child_env(
            TELEGRAM_BOT_TOKEN="123:doc",
            TELEGRAM_CHAT_ID="-1001",
            CRYPTORADAR__ALERTS__CHANNELS__TELEGRAM__API_BASE_URL=fake.api_base_url,
        )
        await send_test(config, name, env, tmp_path)
    assert [(m.chat_id, "TESTUSDT" in m.text) for m in fake.messages] == [("-1001", True)]


async def test_discord_example_delivers_a_test_alert(tmp_path: Path) -> None:
    config, name = example_for(ChannelType.DISCORD, tmp_path)
    async with FakeDiscord() as fake:
        url = fake.add_webhook()
        await send_test(config, name, child_env(DISCORD_WEBHOOK_URL=url), tmp_path)
    assert len(fake.messages) == 1
    assert "TESTUSDT" in str(fake.messages[0].payload)
