"""A backtest of real Binance candles whose report is checked against an independent count.

The independent count re-derives the confluence rule (docs/detectors.md) from the raw files with TA-Lib
and numpy: it reads the JSON/CSV itself, computes EMA/RSI/SMA with TA-Lib and the session VWAP with
numpy cumulative sums, and applies the cross, RSI band, factor and repeat rules in a plain loop. It shares
no code with `cryptoradar.detectors`, `cryptoradar.indicators` or the archive reader.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import msgspec
import numpy as np
import talib

from conftest import shared_data
from cryptoradar.backtest.inputs import ArchiveInput, CandleJsonInput
from cryptoradar.backtest.report import ReportSummary, write_report
from cryptoradar.backtest.runner import BacktestOptions, run_backtest
from cryptoradar.config.detectors import ConfluenceConfig, DetectorsConfig, MomentumConfig, RadarConfig

# min_factors=3 (not the all-five default) keeps a sample of dozens of signals per series to compare.
CONFLUENCE = ConfluenceConfig(symbols=("XRPETH", "ADABTC"), intervals=("1m", "5m"), min_factors=3)
DETECTORS = DetectorsConfig(
    confluence=CONFLUENCE,
    momentum=MomentumConfig(enabled=False),
    radar=RadarConfig(enabled=False),
)
STEP_MS = {"1m": 60_000, "5m": 300_000}


def _series_from_json(path: Path, interval: str) -> dict[str, np.ndarray]:
    rows = np.array(json.loads(path.read_text()), dtype=float)
    return {
        "open_ms": rows[:, 0].astype(np.int64),
        "close_ms": rows[:, 0].astype(np.int64) + STEP_MS[interval] - 1,
        "high": rows[:, 2], "low": rows[:, 3], "close": rows[:, 4], "volume": rows[:, 5],
    }  # fmt: skip


def _series_from_csv(path: Path) -> dict[str, np.ndarray]:
    with path.open() as f:
        rows = [r for r in csv.reader(f) if r]
    return {
        "open_ms": np.array([int(r[0]) for r in rows], dtype=np.int64),
        "close_ms": np.array([int(r[6]) for r in rows], dtype=np.int64),
        "high": np.array([float(r[2]) for r in rows]),
        "low": np.array([float(r[3]) for r in rows]),
        "close": np.array([float(r[4]) for r in rows]),
        "volume": np.array([float(r[5]) for r in rows]),
    }


def _session_vwap(s: dict[str, np.ndarray], session_ms: int) -> np.ndarray:
    typical_volume = (s["high"] + s["low"] + s["close"]) / 3.0 * s["volume"]
    session = s["open_ms"] // session_ms
    out = np.full(len(session), np.nan)
    for day in np.unique(session):
        idx = np.nonzero(session == day)[0]
        pv, v = np.cumsum(typical_volume[idx]), np.cumsum(s["volume"][idx])
        with np.errstate(invalid="ignore", divide="ignore"):
            out[idx] = np.where(v > 0, pv / v, np.nan)
    return out


def independent_confluence(s: dict[str, np.ndarray], cfg: ConfluenceConfig) -> list[tuple[int, str]]:
    """(close time, direction) of every bar the confluence rule fires on, computed without project code."""
    close, volume = s["close"], s["volume"]
    fast, slow = talib.EMA(close, cfg.ema_fast_period), talib.EMA(close, cfg.ema_slow_period)
    trend, rsi = talib.EMA(close, cfg.ema_trend_period), talib.RSI(close, cfg.rsi_period)
    atr = talib.ATR(s["high"], s["low"], close, cfg.atr_period)
    volume_ma = np.concatenate(([np.nan], talib.SMA(volume, cfg.volume_ma_period)[:-1]))
    vwap = _session_vwap(s, cfg.vwap_session_ms)
    diff = fast - slow
    window = cfg.cross_within_bars + 1
    last: dict[str, tuple[int, float]] = {}
    fired: list[tuple[int, str]] = []
    for i in range(len(close)):
        values = (trend[i], rsi[i], atr[i], vwap[i], volume_ma[i])
        if i - window + 1 < 0 or np.isnan(diff[i - window + 1]) or any(np.isnan(x) for x in values):
            continue
        before = diff[i - window + 1 : i]
        if diff[i] > 0 and before.min() <= 0:
            up = True
        elif diff[i] < 0 and before.max() >= 0:
            up = False
        else:
            continue
        if not cfg.rsi_low <= rsi[i] <= cfg.rsi_high:
            continue
        sign = 1.0 if up else -1.0
        met = 2 + int(sign * (close[i] - vwap[i]) > 0) + int(volume[i] > cfg.volume_factor * volume_ma[i])
        met += int(sign * (close[i] - trend[i]) > 0)
        if met < cfg.min_factors:
            continue
        direction = "bullish" if up else "bearish"
        t = int(s["close_ms"][i])
        previous = last.get(direction)
        if previous is not None:
            recent = t - previous[0] < cfg.repeat_cooldown_s * 1000
            if recent and abs(close[i] - previous[1]) * 100.0 <= cfg.repeat_min_move_pct * previous[1]:
                continue
        last[direction] = (t, float(close[i]))
        fired.append((t, direction))
    return fired


def test_backtest_report_matches_independent_count(tmp_path: Path) -> None:
    data = shared_data()
    xrp_1m, xrp_5m = data / "candles" / "XRP_ETH-1m.json", data / "candles" / "XRP_ETH-5m.json"
    ada = data / "archive" / "ADABTC-1m-2021-11-27.csv"
    result = run_backtest(
        [CandleJsonInput(xrp_1m), CandleJsonInput(xrp_5m), ArchiveInput(ada)],
        BacktestOptions(detectors=DETECTORS),
    )
    files = write_report(result, tmp_path)

    expected = {
        ("XRPETH", "1m"): independent_confluence(_series_from_json(xrp_1m, "1m"), CONFLUENCE),
        ("XRPETH", "5m"): independent_confluence(_series_from_json(xrp_5m, "5m"), CONFLUENCE),
        ("ADABTC", "1m"): independent_confluence(_series_from_csv(ada), CONFLUENCE),
    }
    total = sum(len(v) for v in expected.values())
    assert all(len(v) >= 10 for v in expected.values()), expected  # a meaningful sample per series

    html = files.html.read_text()
    start = html.index('id="summary">') + len('id="summary">')
    summary = msgspec.json.decode(html[start : html.index("</script>", start)], type=ReportSummary)
    assert summary.signals == total
    assert f'id="signal-count">{total}<' in html
    assert summary.bars == 3560 + 712 + 1440

    with files.signals_csv.open() as f:
        rows = list(csv.DictReader(f))
    got: dict[tuple[str, str], list[tuple[int, str]]] = {k: [] for k in expected}
    for r in rows:
        got[(r["symbol"], r["timeframe"])].append((int(r["window_end_ms"]), r["direction"]))
    assert got == expected

    # Every signal has outcomes except those too close to the end of the data.
    outcomes = json.loads(files.signals_json.read_text())
    assert len(outcomes) == total
    assert sum(1 for o in outcomes if "4h" in o["horizons"]) >= total * 0.8
    assert all(o["exit"] is not None for o in outcomes)
    hit_rates = json.loads(files.hit_rates_json.read_text())
    overall = [
        r for r in hit_rates if r["symbol_group"] == "*" and r["bucket"] == "*" and r["horizon"] == "1h"
    ]
    assert len(overall) == 1
    assert overall[0]["n"] == sum(1 for o in outcomes if "1h" in o["horizons"])
