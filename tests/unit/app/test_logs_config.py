"""`log` settings drive level, the JSON-lines file and its rotation (loaded from YAML like production)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from cryptoradar.app.logs import configure_logging_for, configure_logging_from
from cryptoradar.config import load_settings
from cryptoradar.core.logging import RetainingRotatingFileHandler, configure_logging


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    yield
    configure_logging("INFO", "json")


def _our_file_handler() -> RetainingRotatingFileHandler:
    handlers = [h for h in logging.getLogger().handlers if isinstance(h, RetainingRotatingFileHandler)]
    assert len(handlers) == 1
    return handlers[0]


def test_file_level_and_rotation_come_from_config(tmp_path: Path) -> None:
    log_file = tmp_path / "logs" / "cryptoradar.jsonl"
    config = tmp_path / "config.yaml"
    config.write_text(
        f"log:\n  level: WARNING\n  format: json\n  file:\n    path: {log_file}\n"
        "    max_bytes: 2048\n    rotate_every: hour\n    retention_days: 7\n",
        encoding="utf-8",
    )
    settings = load_settings(config)
    configure_logging_from(settings.log)
    logger = structlog.get_logger("test")
    logger.info("below_level", n=1)
    for i in range(40):
        logger.warning("above_level", n=i, padding="x" * 80)

    handler = _our_file_handler()
    rotated = handler.rotated_files()
    assert rotated, "2 KiB max_bytes must have rotated the file at least once"
    events = [json.loads(line) for path in [*rotated, log_file] for line in path.read_text().splitlines()]
    assert {e["event"] for e in events} == {"above_level"}, "INFO is below the configured level"
    assert sorted(e["n"] for e in events) == list(range(40)), "rotation loses no record"
    assert handler.rotate_every_s == 3_600
    assert handler.retention_s == 7 * 86_400


def test_packaged_defaults_log_to_stderr_only() -> None:
    settings = load_settings()
    assert settings.log.file.path is None
    assert settings.log.file.retention_days == 7
    configure_logging_from(settings.log)
    assert not [h for h in logging.getLogger().handlers if isinstance(h, RetainingRotatingFileHandler)]


def test_secret_values_are_redacted_from_every_record_and_exception(tmp_path: Path) -> None:
    secret = "hunter2-canary-value"
    log_file = tmp_path / "app.jsonl"
    config = tmp_path / "config.yaml"
    config.write_text(
        f"log:\n  level: DEBUG\n  format: json\n  file:\n    path: {log_file}\n"
        "alerts:\n  channels:\n    hook:\n      type: webhook\n"
        f"      url: http://127.0.0.1:9/{secret}\n      secret: short\n"
        "  default_channels: [hook]\n  fallback_channels: [hook]\n",
        encoding="utf-8",
    )
    configure_logging_for(load_settings(config))
    logging.getLogger("apprise").debug("POST URL: http://127.0.0.1:9/%s", secret)
    try:
        raise ConnectionError(f"cannot reach http://127.0.0.1:9/{secret}")
    except ConnectionError:
        structlog.get_logger("test").exception("send_failed", url=f"http://127.0.0.1:9/{secret}")
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = log_file.read_text()
    records = [json.loads(line) for line in text.splitlines()]
    assert [r["event"] for r in records] == ["POST URL: **********", "send_failed"]
    assert "**********" in records[1]["exception"]
    assert secret not in text
