"""`cryptoradar evaluate --candles` on all of ../shared/data/real (issue 13, item 2): the report's structure
and numbers that must agree with each other and with the replay's own signals (training split)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from conftest import shared_data
from cryptoradar.config.detectors import DetectorsConfig
from cryptoradar.evaluate.candles import evaluate_candles
from cryptoradar.evaluate.real_report import real_options

CLI = Path(sys.executable).with_name("cryptoradar")
TRAINING = ("2025-01-01", "2025-05-01")
DETECTORS = ("momentum", "confluence", "futures_radar")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("evaluate") / "report.json"
    done = subprocess.run(
        [str(CLI), "evaluate", "--candles", str(shared_data() / "real"), "--score-from", TRAINING[0],
         "--score-to", TRAINING[1], "--fee-pct", "0.1", "--json", str(out)],
        capture_output=True, text=True, timeout=300, env=os.environ | {"COLUMNS": "1000"}, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    for title in ("alerts per symbol-day", "forward returns", "target before stop"):
        assert title in done.stdout
    loaded: dict[str, Any] = json.loads(out.read_text())
    return loaded


def test_one_row_per_detector_and_symbol_with_data(report: dict[str, Any]) -> None:
    keys = [(r["detector"], r["symbol"]) for r in report["rows"]]
    assert len(keys) == len(set(keys))
    assert {d for d, _ in keys} == set(DETECTORS)
    assert len([k for k in keys if k[0] == "momentum"]) == 15  # every spot pair, silent ones included
    assert {s for d, s in keys if d == "futures_radar"} == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}  # USD-M only


def test_counts_equal_the_replayed_signals_in_the_window(report: dict[str, Any]) -> None:
    options = real_options(*TRAINING, 0.1)
    evaluation = evaluate_candles([shared_data() / "real"], DetectorsConfig())
    in_window = Counter(
        (s.detector, s.symbol)
        for s in evaluation.signals
        if options.start_ms <= s.window_end_ms < options.end_ms
    )
    assert sum(in_window.values()) > 0
    for row in report["rows"]:
        assert row["signals"] == in_window[(row["detector"], row["symbol"])]
        per_day = row["per_day"]
        assert per_day["n"] == 120  # 2025-01-01 .. 2025-04-30, every day has bars
        assert per_day["mean"] * per_day["n"] == pytest.approx(row["signals"])
        assert row["quiet_per_day"]["n"] <= per_day["n"]
    assert sum(r["signals"] for r in report["rows"]) == sum(in_window.values())


def test_rates_are_rates(report: dict[str, Any]) -> None:
    moves_seen = 0
    for row in report["rows"]:
        if not row["recall"]:  # no bars of the detector's timeframe for this pair (1h-only files)
            assert row["timeframe"] != "1h"
            continue
        assert set(row["recall"]) == {"k5 within 0", "k5 within 1", "k3 within 0", "k3 within 1"}
        for k in ("k5", "k3"):
            (c0, n0), (c1, n1) = row["recall"][f"{k} within 0"], row["recall"][f"{k} within 1"]
            assert n0 == n1
            assert 0 <= c0 <= c1 <= n1  # a later bar can only add catches
            moves_seen += n0
        # 5-sigma moves are a subset of 3-sigma moves
        assert row["recall"]["k5 within 0"][1] <= row["recall"]["k3 within 0"][1]
        share = row["below_sigma_share"]
        assert share is None or 0.0 <= share <= 1.0
        for alerts, random in row["forward_pct"].values():
            assert alerts["n"] <= row["signals"]
            if alerts["n"] >= 2:
                assert alerts["low"] <= alerts["mean"] <= alerts["high"]
            assert random["n"] == 0 or random["n"] <= 20 * row["signals"]
    assert moves_seen > 0


def test_confluence_trades_net_of_fees_never_beat_gross(report: dict[str, Any]) -> None:
    (btc,) = [r for r in report["rows"] if (r["detector"], r["symbol"]) == ("confluence", "BTCUSDT")]
    trades = btc["trades"]
    assert trades["target_first"] + trades["stop_first"] + trades["neither"] == btc["signals"]
    assert 0.0 <= trades["net_rate"] <= trades["gross_rate"] <= 1.0
    assert trades["net_wins"] <= trades["target_first"]


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (("--score-from", "2025-13-01"), "evaluate: --score-from 2025-13-01: use a UTC date as YYYY-MM-DD"),
        (("--fee-pct", "-1"), "evaluate: --fee-pct -1.0: use a percent per side, e.g. 0.1"),
        (
            ("--json", "/nonexistent-dir/r.json"),
            "evaluate: --json /nonexistent-dir/r.json: No such file or directory",
        ),
    ],
)
def test_bad_options_are_one_line(args: tuple[str, ...], line: str) -> None:
    one_file = shared_data() / "real" / "spot" / "BTC_USDT-1h.feather"
    done = subprocess.run(
        [str(CLI), "evaluate", "--candles", str(one_file), *args],
        capture_output=True, text=True, timeout=120, env=os.environ | {"COLUMNS": "1000"}, check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert line in done.stderr.splitlines()
