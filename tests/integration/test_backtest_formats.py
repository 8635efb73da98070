"""Real data in, in the formats users have (issue 13, item 1), on the real files in ../shared/data.

Every file type is identified from its name and read; a 15m series built from 5m equals the exchange's
15m file bar for bar; a detector that can never fire says so; an unidentifiable name is one line naming
the expected patterns. The reference values come from the files themselves, read with pyarrow / json.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from conftest import shared_data
from cryptoradar.backtest.candles import CandleCache
from cryptoradar.backtest.command import candle_inputs, collect_inputs
from cryptoradar.backtest.freqtrade import CandleType, FreqtradeInput
from cryptoradar.backtest.inputs import ArchiveInput, CacheInput, UnknownInputError, identify, load
from cryptoradar.backtest.runner import BacktestOptions, prepare
from cryptoradar.backtest.timeframes import resample
from cryptoradar.config.detectors import DetectorsConfig
from cryptoradar.events import Bar, Market

CLI = Path(sys.executable).with_name("cryptoradar")
START_MS = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp() * 1000)
HALF_YEAR_MS = int(datetime(2025, 7, 1, tzinfo=UTC).timestamp() * 1000) - START_MS
STEP_MS = {"5m": 300_000, "15m": 900_000, "1h": 3_600_000, "8h": 28_800_000}


def real() -> Path:
    return shared_data() / "real"


def feather_rows(path: Path) -> int:
    import pyarrow.feather

    return int(pyarrow.feather.read_table(path).num_rows)


@pytest.mark.parametrize(
    ("name", "market", "symbol", "interval", "candle_type"),
    [
        ("spot/BTC_USDT-5m.feather", Market.SPOT, "BTCUSDT", "5m", CandleType.PRICE),
        ("spot/PEPE_USDT-1h.feather", Market.SPOT, "PEPEUSDT", "1h", CandleType.PRICE),
        ("futures/ETH_USDT_USDT-5m-futures.feather", Market.USDM, "ETHUSDT", "5m", CandleType.PRICE),
        ("futures/SOL_USDT_USDT-1h-mark.feather", Market.USDM, "SOLUSDT", "1h", CandleType.MARK),
        (
            "futures/BTC_USDT_USDT-1h-funding_rate.feather",
            Market.USDM,
            "BTCUSDT",
            "1h",
            CandleType.FUNDING_RATE,
        ),
    ],
)
def test_each_freqtrade_feather_is_identified_and_read(
    name: str, market: Market, symbol: str, interval: str, candle_type: CandleType
) -> None:
    path = real() / name
    source = identify(path)
    assert source == FreqtradeInput(path, market, symbol, interval, candle_type)
    stream = load(source)
    assert stream.report.rows == feather_rows(path)
    if candle_type is CandleType.PRICE:
        bars = stream.events
        assert len(bars) == HALF_YEAR_MS // STEP_MS[interval]  # six months, no gap
        assert stream.series == (market, symbol, interval)
        assert isinstance(bars[0], Bar)
        assert bars[0].open_time_ms == START_MS
        assert stream.report.continuous
    else:
        # Read (a broken file would raise) but not replayed: no detector reads them.
        assert stream.events == []
        assert "not replayed" in stream.note


def test_feather_values_are_the_files_values() -> None:
    import pyarrow.feather

    path = real() / "futures" / "BTC_USDT_USDT-5m-futures.feather"
    table = pyarrow.feather.read_table(path).to_pydict()
    bars = load(identify(path)).events
    for k in (0, 1, len(bars) // 2, len(bars) - 1):
        b = bars[k]
        assert isinstance(b, Bar)
        assert b.open_time_ms == int(table["date"][k].timestamp() * 1000)
        got = (b.open, b.high, b.low, b.close, b.volume)
        assert got == tuple(table[c][k] for c in ("open", "high", "low", "close", "volume"))
        assert b.quote_volume == b.volume * b.close  # estimated: freqtrade stores no quote volume


def test_freqtrade_json_archive_csv_zip_and_cache_are_identified(tmp_path: Path) -> None:
    candles = shared_data() / "candles"
    futures = identify(candles / "XRP_USDT_USDT-5m-futures.json")
    assert futures == FreqtradeInput(futures.path, Market.USDM, "XRPUSDT", "5m")
    rows = json.loads(futures.path.read_bytes())
    bars = load(futures).events
    assert len(bars) == len(rows) == 1_999
    assert isinstance(bars[-1], Bar)
    assert bars[-1].close == rows[-1][4]
    funding = identify(candles / "XRP_USDT_USDT-8h-funding_rate.json")
    assert isinstance(funding, FreqtradeInput)
    assert funding.candle_type is CandleType.FUNDING_RATE
    assert load(funding).report.rows == len(json.loads(funding.path.read_bytes()))
    # A spot pair without a settle currency: the name cannot tell the market, --market can.
    spot = identify(candles / "XRP_ETH-1m.json")
    assert isinstance(spot, FreqtradeInput)
    assert spot.market is Market.SPOT
    assert identify(candles / "XRP_ETH-1m.json", Market.USDM).market is Market.USDM  # type: ignore[union-attr]

    csv_path = shared_data() / "archive" / "ADABTC-1m-2021-11-27.csv"
    assert identify(csv_path) == ArchiveInput(csv_path, None)
    assert identify(csv_path, Market.USDM) == ArchiveInput(csv_path, Market.USDM)
    zipped = tmp_path / "futures" / "um" / "daily" / "ADABTC-1m-2021-11-27.zip"
    zipped.parent.mkdir(parents=True)
    with zipfile.ZipFile(zipped, "w") as z:
        z.write(csv_path, csv_path.name)
    from_zip = identify(zipped, Market.SPOT)  # the folder says USD-M: the name wins over --market
    assert from_zip == ArchiveInput(zipped, Market.USDM)
    csv_bars, zip_bars = load(identify(csv_path)).events, load(from_zip).events
    assert len(csv_bars) == len(zip_bars) == 1_440
    assert [b.close for b in zip_bars if isinstance(b, Bar)] == [
        b.close for b in csv_bars if isinstance(b, Bar)
    ]

    cache = CandleCache(tmp_path / "cache")
    cache.append(Market.USDM, "XRPUSDT", "5m", [b for b in bars if isinstance(b, Bar)])
    (cached,) = collect_inputs(
        cache_dir=cache.root, cache_market=Market.USDM, symbols=["XRPUSDT"], timeframes=["5m"]
    )
    assert isinstance(cached, CacheInput)
    assert load(cached).events == bars
    # A cache file given as candle input is identified by its place in the cache layout.
    (from_layout,) = candle_inputs([cache.root])
    assert isinstance(from_layout, CacheInput)
    assert (from_layout.cache.root, from_layout.market, from_layout.symbol, from_layout.interval) == (
        cache.root, Market.USDM, "XRPUSDT", "5m",
    )  # fmt: skip
    assert load(from_layout).events == bars


def test_a_folder_is_searched_and_trades_files_in_it_are_skipped(tmp_path: Path) -> None:
    inputs = candle_inputs([real() / "futures"])
    assert len(inputs) == 12  # 3 pairs x (5m, 1h, mark, funding)
    assert {i.market for i in inputs if isinstance(i, FreqtradeInput)} == {Market.USDM}
    (tmp_path / "BTC_USDT-trades.feather").write_bytes(b"")
    assert candle_inputs([tmp_path]) == []


@pytest.mark.parametrize("pair", ["BTC", "ETH", "SOL", "XRP"])
def test_15m_built_from_5m_equals_the_real_15m_file_bar_for_bar(pair: str) -> None:
    five = load(identify(real() / "spot" / f"{pair}_USDT-5m.feather")).events
    real_15m = load(identify(real() / "spot" / f"{pair}_USDT-15m.feather")).events
    built, dropped = resample([b for b in five if isinstance(b, Bar)], "15m")
    assert dropped == 0
    assert len(built) == len(real_15m) == 17_376
    for ours, theirs in zip(built, real_15m, strict=True):
        assert isinstance(theirs, Bar)
        assert (ours.open_time_ms, ours.close_time_ms, ours.interval) == (
            theirs.open_time_ms, theirs.close_time_ms, theirs.interval,
        )  # fmt: skip
        assert (ours.open, ours.high, ours.low, ours.close) == (
            theirs.open,
            theirs.high,
            theirs.low,
            theirs.close,
        )
        # The exchange sums decimal strings; three doubles summed exactly round once.
        assert ours.volume == pytest.approx(theirs.volume, rel=1e-12, abs=1e-9)
        assert ours.ts_event_ns == theirs.ts_event_ns


def test_a_gap_drops_the_bucket_instead_of_filling_it() -> None:
    five = [b for b in load(identify(real() / "spot" / "BTC_USDT-5m.feather")).events if isinstance(b, Bar)]
    holed = five[:100] + five[101:]  # bar 100 (the second of its 15m bucket: 100 = 33 * 3 + 1) is gone
    built, dropped = resample(holed, "15m")
    assert dropped == 1
    assert len(built) == len(five) // 3 - 1
    assert all(b.open_time_ms != five[99].open_time_ms for b in built)


def test_backtest_builds_15m_for_momentum_from_5m_and_1h_files() -> None:
    inputs = candle_inputs([real() / "spot" / "BTC_USDT-5m.feather", real() / "spot" / "BTC_USDT-1h.feather"])
    prepared = prepare(inputs, BacktestOptions(detectors=DetectorsConfig()))
    notes = prepared.timeframes.notes()
    assert "built spot BTCUSDT 15m from 5m: 17,376 bars" in notes
    assert not any(n.startswith("momentum") for n in notes)
    intervals = {e.interval for e in prepared.events if isinstance(e, Bar)}
    assert intervals == {"5m", "15m", "1h"}


def test_1h_is_built_from_a_built_15m_and_equals_the_real_1h_file() -> None:
    prepared = prepare([identify(real() / "spot" / "SOL_USDT-5m.feather")], BacktestOptions())
    assert prepared.timeframes.notes()[:2] == [
        "built spot SOLUSDT 15m from 5m: 17,376 bars",
        "built spot SOLUSDT 1h from 15m: 4,344 bars",
    ]
    built_1h = [e for e in prepared.events if isinstance(e, Bar) and e.interval == "1h"]
    real_1h = load(identify(real() / "spot" / "SOL_USDT-1h.feather")).events
    assert [(b.open_time_ms, b.open, b.high, b.low, b.close) for b in built_1h] == [
        (b.open_time_ms, b.open, b.high, b.low, b.close) for b in real_1h if isinstance(b, Bar)
    ]


def test_the_warning_names_the_symbols_a_detector_cannot_fire_for() -> None:
    # The spot folder: 4 pairs with 5m/15m/1h, 11 with 1h only.
    prepared = prepare(candle_inputs([real() / "spot"]), BacktestOptions())
    hourly_only = "AAVEUSDT, ADAUSDT, ARBUSDT, AVAXUSDT, LINKUSDT, LTCUSDT, NEARUSDT, OPUSDT, PEPEUSDT, TRXUSDT, UNIUSDT"
    assert (
        f"momentum will never fire for {hourly_only}: needs all of 15m, 1h and cannot build 15m"
        in "\n".join(prepared.timeframes.notes())
    )
    assert prepared.timeframes.builds == []  # the four others have every interval already


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"COLUMNS": "1000"}  # one line stays one line on the captured console
    return subprocess.run(
        [str(CLI), *args], capture_output=True, text=True, timeout=300, env=env, check=False
    )


def test_cli_warns_per_detector_that_cannot_fire(tmp_path: Path) -> None:
    # 1h only: momentum needs 15m too and nothing lower is loaded to build it from.
    done = run_cli(
        "backtest", "--candles", str(real() / "spot" / "BTC_USDT-1h.feather"), "--out", str(tmp_path)
    )
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert any(
        line.startswith(
            "momentum will never fire: needs all of 15m, 1h and cannot build 15m (no loaded lower"
        )
        for line in lines
    ), done.stderr
    assert any(line.startswith("confluence will never fire: needs one of 1m, 5m") for line in lines)
    assert any(line.startswith("futures_radar will never fire: it reads USD-M aggTrades") for line in lines)
    assert "Traceback" not in done.stderr
    html = (tmp_path / "report.html").read_text()
    assert '<p class="timeframes">momentum will never fire: needs all of 15m, 1h' in html


def test_cli_warns_when_no_input_is_on_the_detectors_market(tmp_path: Path) -> None:
    futures = str(real() / "futures" / "BTC_USDT_USDT-5m-futures.feather")
    done = run_cli("backtest", "--candles", futures, "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert (
        "momentum will never fire: no spot bars in the inputs (check --market and detectors.momentum.markets)"
        in (done.stderr)
    )


def test_cli_names_the_expected_patterns_for_an_unidentifiable_file(tmp_path: Path) -> None:
    odd = tmp_path / "btc candles.feather"
    odd.write_bytes(b"")
    for args in (("backtest", "--out", str(tmp_path / "r")), ("evaluate",)):
        done = run_cli(*args, "--candles", str(odd))
        assert done.returncode != 0
        assert "Traceback" not in done.stderr
        (line,) = [ln for ln in done.stderr.splitlines() if ln.startswith(f"{args[0]}: ")]
        assert "btc candles.feather: cannot tell the format" in line
        assert "BTC_USDT_USDT-5m-futures.feather" in line
        assert "SYMBOL-<tf>-YYYY-MM[-DD].csv|zip" in line
    with pytest.raises(UnknownInputError):
        identify(odd)


def test_evaluate_candles_counts_signals_per_detector_and_symbol() -> None:
    spot = real() / "spot"
    files = [spot / f"{pair}_USDT-{tf}.feather" for pair in ("BTC", "ETH") for tf in ("5m", "1h")]
    done = run_cli("evaluate", *(arg for f in files for arg in ("--candles", str(f))))
    assert done.returncode == 0, done.stderr
    assert "built spot BTCUSDT 15m from 5m: 17,376 bars" in done.stdout
    assert "futures_radar will never fire" in done.stderr
    # The same run in-process: the table's counts are the replay's signals.
    from cryptoradar.evaluate.candles import evaluate_candles

    evaluation = evaluate_candles(files, DetectorsConfig())
    counts = evaluation.counts()
    assert evaluation.bars == 2 * (52_128 + 4_344)
    assert evaluation.days == {"BTCUSDT": 181.0, "ETHUSDT": 181.0}
    assert counts[("momentum", "BTCUSDT")] + counts[("momentum", "ETHUSDT")] > 0  # 15m built: it can fire
    rows = {
        tuple(cell.strip() for cell in line.strip("│ ").split("│"))
        for line in done.stdout.splitlines()
        if line.count("│") == 6
    }
    expected = {
        (
            detector,
            symbol,
            str(counts[(detector, symbol)]),
            "181.0",
            f"{counts[(detector, symbol)] / 181:.2f}",
        )
        for detector in ("momentum", "confluence", "futures_radar")
        for symbol in ("BTCUSDT", "ETHUSDT")
    }
    assert rows == expected
