"""The rotating log file: rotation by size and by time, retention, and JSON lines through structlog."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from cryptoradar.core.clock import ManualClock
from cryptoradar.core.logging import RetainingRotatingFileHandler, configure_logging

DAY_NS = 86_400 * 1_000_000_000
START_NS = 1_767_225_600 * 1_000_000_000 + 3_600 * 1_000_000_000  # 2026-01-01T01:00:00Z


def make_logger(handler: logging.Handler, name: str) -> logging.Logger:
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger(name)
    logger.propagate = False
    logger.handlers = [handler]
    logger.setLevel(logging.INFO)
    return logger


def all_lines(path: Path) -> list[str]:
    files = [*sorted(path.parent.glob(f"{path.name}.*")), path]
    return [line for f in files for line in f.read_text().splitlines()]


def test_rotates_by_size_without_losing_a_line(tmp_path: Path) -> None:
    path = tmp_path / "radar.log"
    handler = RetainingRotatingFileHandler(path, 200, 86_400, 7 * 86_400, clock=ManualClock(START_NS))
    logger = make_logger(handler, "test.size")
    messages = [f"record {i:03d} " + "x" * 30 for i in range(20)]
    for message in messages:
        logger.info(message)
    handler.close()
    rotated = handler.rotated_files()
    assert len(rotated) >= 3
    assert all(f.stat().st_size <= 200 for f in [*rotated, path])
    assert sorted(all_lines(path)) == messages
    assert rotated[0].name == "radar.log.20260101T010000"
    assert rotated[1].name == "radar.log.20260101T010000.1"


def test_rotates_at_the_day_boundary_whatever_the_size(tmp_path: Path) -> None:
    path = tmp_path / "radar.log"
    clock = ManualClock(START_NS)
    handler = RetainingRotatingFileHandler(path, 10_000_000, 86_400, 7 * 86_400, clock=clock)
    logger = make_logger(handler, "test.time")
    logger.info("before midnight")
    clock.advance(DAY_NS - 3_600 * 1_000_000_000 - 1)  # 23:59:59.999999999
    logger.info("still today")
    assert handler.rotated_files() == []
    clock.advance(1)
    logger.info("tomorrow")
    handler.close()
    (rotated,) = handler.rotated_files()
    assert rotated.name == "radar.log.20260102T000000"
    assert rotated.read_text().splitlines() == ["before midnight", "still today"]
    assert path.read_text().splitlines() == ["tomorrow"]


def test_rotation_deletes_files_older_than_retention(tmp_path: Path) -> None:
    path = tmp_path / "radar.log"
    clock = ManualClock(START_NS)
    old = tmp_path / "radar.log.20251220T000000"
    recent = tmp_path / "radar.log.20251230T000000"
    unrelated = tmp_path / "other.log.20251201T000000"
    for f, age_days in ((old, 8), (recent, 2), (unrelated, 30)):
        f.write_text("x\n")
        mtime_ns = START_NS - age_days * DAY_NS
        os.utime(f, ns=(mtime_ns, mtime_ns))
    handler = RetainingRotatingFileHandler(path, 10_000_000, 86_400, 7 * 86_400, clock=clock)
    logger = make_logger(handler, "test.retention")
    logger.info("day one")
    clock.advance(DAY_NS)
    logger.info("day two")
    handler.close()
    assert not old.exists()
    assert recent.exists()
    assert unrelated.exists()


def test_rejects_nonsense_limits(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="positive"):
        RetainingRotatingFileHandler(tmp_path / "x.log", 0, 86_400, 86_400)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    yield
    configure_logging("INFO", "json")


@pytest.mark.usefixtures("restore_logging")
def test_configure_logging_writes_json_lines_from_structlog_and_stdlib(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "cryptoradar.log"
    configure_logging("INFO", "json", file_path=path)
    configure_logging("INFO", "json", file_path=path)  # twice: still one set of handlers
    structlog.get_logger("cryptoradar.test").info("bar_closed", symbol="BTCUSDT", latency_ms=3)
    structlog.get_logger("cryptoradar.test").debug("too_verbose")
    logging.getLogger("aiohttp.access").warning("foreign %s", "record")
    for handler in logging.getLogger().handlers:
        handler.flush()
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["event"] for r in records] == ["bar_closed", "foreign record"]
    assert records[0]["symbol"] == "BTCUSDT"
    assert records[0]["level"] == "info"
    assert records[0]["timestamp"].endswith("Z")
    assert records[1]["level"] == "warning"
