"""`cryptoradar alerts ...` against a real store (SQLite file and PostgreSQL) and a real JSON-lines channel."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from urllib.parse import urlsplit

import msgspec
import pytest
from alert_crash_child import stream_signal
from typer.testing import CliRunner

from conftest import eventually
from cryptoradar.alerts.service import AlertService
from cryptoradar.cli import app
from cryptoradar.config import load_settings
from cryptoradar.config.storage import StorageBackend
from cryptoradar.core.clock import SystemClock
from cryptoradar.events import Signal
from stores import StoreFactory


@pytest.fixture
def config_file(tmp_path: Path, stores: StoreFactory) -> Path:
    storage = stores.config
    if storage.backend is StorageBackend.POSTGRES:
        storage_yaml = (
            f"storage:\n  backend: postgres\n  postgres_dsn: {storage.postgres_dsn.get_secret_value()}\n"
        )
    else:
        storage_yaml = f"storage:\n  sqlite_path: {storage.sqlite_path}\n"
    path = tmp_path / "config.yaml"
    path.write_text(
        storage_yaml
        + f"alerts:\n  channels:\n    file:\n      type: log\n      path: {tmp_path / 'alerts.jsonl'}\n"
        "  default_channels: [file]\n  fallback_channels: [file]\n  silence_refresh_s: 0.05\n"
        "  group_wait_s: 0\n  cooldowns: {}\n",
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
    listed = runner.invoke(app, ["alerts", "silences", "-c", str(config_file)], terminal_width=200)
    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.output.splitlines() if f" {silence_id} " in line)
    assert 'symbol="BTCUSDT"' in row
    assert "active" in row
    assert runner.invoke(app, ["alerts", "unsilence", silence_id, "-c", str(config_file)]).exit_code == 0
    assert runner.invoke(app, ["alerts", "unsilence", silence_id, "-c", str(config_file)]).exit_code == 1
    listed = runner.invoke(app, ["alerts", "silences", "-c", str(config_file)], terminal_width=200)
    assert 'symbol="BTCUSDT"' not in listed.output
    bad = runner.invoke(app, ["alerts", "silence", "symbol", "-c", str(config_file)])
    assert bad.exit_code == 2


def test_list_shows_an_empty_store_without_leaking_the_dsn(config_file: Path, stores: StoreFactory) -> None:
    result = CliRunner().invoke(app, ["alerts", "list", "-c", str(config_file)], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "alerts in" in result.output
    password = urlsplit(stores.config.postgres_dsn.get_secret_value()).password
    if password:
        assert password not in result.output


def at_now(signal: Signal) -> Signal:
    """Silences are judged on event time; the CLI's silence runs from now."""
    return msgspec.structs.replace(signal, ts_event_ns=SystemClock().now_ns())


async def test_cli_silence_reaches_a_running_instance(config_file: Path, stores: StoreFactory) -> None:
    settings = load_settings(config_file)
    store, clock = stores.new(), SystemClock()
    await store.open()
    service = AlertService(settings.alerts, store, {}, clock)
    await service.start()
    try:
        runner = CliRunner()
        created = await asyncio.to_thread(
            runner.invoke, app, ["alerts", "silence", 'severity="info"', "-c", str(config_file)]
        )
        assert created.exit_code == 0, created.output
        n = 0

        async def muted() -> bool:
            nonlocal n
            n += 1  # a new info alert each try: only the silence can say no
            return await service.submit(at_now(stream_signal(4 * n))) is None

        await eventually(muted, timeout_s=5, what="the CLI's silence in the running instance")
        assert await service.submit(at_now(stream_signal(1))) is not None  # a warning is not muted
    finally:
        await service.stop(0.5)
        await store.close()
