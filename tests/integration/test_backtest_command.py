"""`backtest_command` end to end: archive folder in, report and SQLite hit rates out; recordings replay."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from conftest import shared_data
from cryptoradar.backtest.command import backtest_command, collect_inputs, parse_day_ms
from cryptoradar.backtest.inputs import ArchiveInput, RecordingInput
from cryptoradar.backtest.runner import BacktestOptions, Progress, Stage, run_backtest
from cryptoradar.backtest.stats import HitRateTable, radar_symbol_group
from cryptoradar.backtest.stats_store import load_hit_rates
from cryptoradar.config.detectors import ConfluenceConfig, DetectorsConfig

DETECTORS = DetectorsConfig(confluence=ConfluenceConfig(symbols=("ADABTC",), intervals=("1m",)))


def test_parse_day_ms() -> None:
    assert parse_day_ms("2021-11-27") == 1_637_971_200_000
    assert parse_day_ms("2021-11-27T01:00:00+01:00") == 1_637_971_200_000
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        parse_day_ms("27/11/2021")


async def test_command_over_a_zipped_archive_folder(tmp_path: Path) -> None:
    source = shared_data() / "archive" / "ADABTC-1m-2021-11-27.csv"
    folder = tmp_path / "data" / "spot" / "daily" / "klines" / "ADABTC" / "1m"
    folder.mkdir(parents=True)
    with zipfile.ZipFile(folder / "ADABTC-1m-2021-11-27.zip", "w") as z:
        z.write(source, source.name)
    (folder / "ETHBTC-1m-2021-11-27.csv").write_text("")  # another symbol: not selected
    seen: list[Progress] = []
    run = await backtest_command(
        archives=[tmp_path / "data"], symbols=["adabtc"], timeframes=["1m"], date_from="2021-11-27",
        date_to="2021-11-27T12:00", detectors=DETECTORS, horizons=("15m", "1h"), out_dir=tmp_path / "out",
        stats_db=tmp_path / "stats.sqlite", run_id="t", saved_ms=1, progress=seen.append,
    )  # fmt: skip
    assert run.result.bars == 720  # half a day selected by the date range
    assert len(run.result.signals) > 0
    assert [p.stage for p in seen][-1] is Stage.SCORE
    assert {p.stage for p in seen} == set(Stage)
    assert run.files.html.exists()
    assert run.opened is False
    stored = await load_hit_rates(tmp_path / "stats.sqlite")
    assert stored == run.result.hit_rates
    table = HitRateTable(stored, radar_symbol_group(), min_count=1)
    assert "n=" in table.context_line(run.result.signals[0], "1h")


def test_collect_inputs_filters_by_name(tmp_path: Path) -> None:
    for name in ("BTCUSDT-1m-2024-01-01.csv", "BTCUSDT-5m-2024-01-01.csv", "ETHUSDT-1m-2024-01-01.csv"):
        (tmp_path / name).write_text("")
    picked = collect_inputs(archives=[tmp_path], symbols=["BTCUSDT"], timeframes=["1m"])
    assert [i.path.name for i in picked if isinstance(i, ArchiveInput)] == ["BTCUSDT-1m-2024-01-01.csv"]


def test_recorded_session_replays_through_the_live_parser() -> None:
    path = shared_data() / "ws" / "usdm-session-1.txt"
    result = run_backtest([RecordingInput(path)], BacktestOptions(detectors=DETECTORS))
    assert result.events > 1000
    assert result.streams[0].events == result.events
    # Every symbol that traded has a 1m price path for scoring (from closed klines, else from its trades).
    assert {symbol for _, symbol in result.paths} == {"DENTUSDT", "KSMUSDT", "XMRUSDT", "YFIUSDT"}
    assert all(interval == "1m" and len(path) > 0 for interval, path in result.paths.values())
