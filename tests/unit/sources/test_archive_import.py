"""data.binance.vision files (.csv/.zip, ms/µs, with/without header) import to bars and trades."""

from __future__ import annotations

import csv
import gzip
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import shared_data
from cryptoradar.core.metrics import REGISTRY
from cryptoradar.events import Bar, Market
from cryptoradar.sources.archive import (
    ArchiveName,
    ContinuityReport,
    import_agg_trades,
    import_klines,
    interval_ms,
    parse_archive_name,
)

ADA = "ADABTC-1m-2021-11-27.csv"


def ada_rows() -> list[list[str]]:
    with (shared_data() / "archive" / ADA).open(newline="") as f:
        return list(csv.reader(f))


def write_csv(path: Path, rows: list[list[str]], header: list[str] | None = None) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        if header:
            writer.writerow(header)
        writer.writerows(rows)
    return path


def zip_of(csv_path: Path) -> Path:
    target = csv_path.with_suffix(".zip")
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.write(csv_path, csv_path.name)
    return target


def test_klines_equal_their_rows() -> None:
    rows = ada_rows()
    bars, report = import_klines(shared_data() / "archive" / ADA)
    assert len(bars) == len(rows) == 1440
    assert report.continuous
    assert report.rows == 1440
    assert report.gaps == []
    for bar, row in zip(bars, rows, strict=True):
        assert (bar.market, bar.symbol, bar.interval, bar.closed) == (Market.SPOT, "ADABTC", "1m", True)
        assert (bar.open_time_ms, bar.close_time_ms, bar.trades) == (int(row[0]), int(row[6]), int(row[8]))
        assert (bar.open, bar.high, bar.low, bar.close) == tuple(float(x) for x in row[1:5])
        assert (bar.volume, bar.quote_volume) == (float(row[5]), float(row[7]))
        assert (bar.taker_buy_volume, bar.taker_buy_quote_volume) == (float(row[9]), float(row[10]))
        assert bar.ts_event_ns == (int(row[6]) + 1) * 10**6
    assert bars[-1].open_time_ms - bars[0].open_time_ms == 1439 * 60_000


def test_microsecond_copy_and_zip_give_identical_bars(tmp_path: Path) -> None:
    bars, _ = import_klines(shared_data() / "archive" / ADA)
    micro_rows = [[str(int(r[0]) * 1000), *r[1:6], str(int(r[6]) * 1000 + 999), *r[7:]] for r in ada_rows()]
    micro = write_csv(tmp_path / ADA, micro_rows)
    assert micro_rows[0][0] == "1637971200000000"

    micro_bars, report = import_klines(micro)
    assert micro_bars == bars
    assert report.continuous
    zipped_bars, zipped_report = import_klines(zip_of(micro))
    assert zipped_bars == bars
    assert zipped_report.continuous


def test_header_row_gaps_and_bad_rows_are_reported(tmp_path: Path) -> None:
    rows = ada_rows()
    header = ["open_time", "open", "high", "low", "close", "volume", "close_time", "quote_volume", "count",
              "taker_buy_volume", "taker_buy_quote_volume", "ignore"]  # fmt: skip
    damaged = rows[:10] + rows[13:20] + [[rows[20][0], "x", *rows[20][2:]]] + [rows[19]] + rows[21:]
    path = write_csv(tmp_path / "BTCUSDT.csv", damaged, header)

    bars, report = import_klines(path, market=Market.USDM, symbol="ADABTC", interval="1m")
    assert {b.market for b in bars} == {Market.USDM}
    assert len(bars) == 1440 - 3 - 1 + 1  # 3 rows removed, 1 bad row dropped, 1 duplicate kept in file order
    assert report.bad_rows == 1
    assert report.out_of_order == 1
    assert report.missing == 3 + 1  # three removed rows plus the bad one
    first_gap = (int(rows[9][0]), int(rows[13][0]))
    assert report.gaps[0] == first_gap
    assert not report.continuous


def test_market_from_path_and_name_errors(tmp_path: Path) -> None:
    folder = tmp_path / "data" / "futures" / "um" / "daily" / "klines" / "ADABTC" / "1m"
    folder.mkdir(parents=True)
    path = write_csv(folder / ADA, ada_rows()[:5])
    bars, _ = import_klines(path)
    assert {b.market for b in bars} == {Market.USDM}
    with pytest.raises(ValueError, match="symbol"):
        import_klines(write_csv(tmp_path / "klines.csv", ada_rows()[:5]))


def _xrp_eth_agg_rows() -> list[dict[str, object]]:
    with gzip.open(shared_data() / "candles" / "XRP_ETH-aggtrades.json.gz") as f:
        return [item["info"] for item in json.load(f)[:500]]


@pytest.mark.parametrize(("spot", "micro", "header", "zipped"),
                         [(True, False, False, False), (True, True, False, True), (False, False, True, False)])  # fmt: skip
def test_agg_trades_spot_and_futures_layouts(
    tmp_path: Path, spot: bool, micro: bool, header: bool, zipped: bool
) -> None:
    infos = _xrp_eth_agg_rows()
    scale = 1000 if micro else 1
    rows = [
        [str(i["a"]), str(i["p"]), str(i["q"]), str(i["f"]), str(i["l"]), str(int(i["T"]) * scale),
         str(i["m"]), *([str(i["M"])] if spot else [])]
        for i in infos
    ]  # fmt: skip
    names = [
        "agg_trade_id",
        "price",
        "quantity",
        "first_trade_id",
        "last_trade_id",
        "transact_time",
        "is_buyer_maker",
    ]
    path = write_csv(tmp_path / "XRPETH-aggTrades-2019-10-11.csv", rows, names if header else None)
    if zipped:
        path = zip_of(path)

    trades, report = import_agg_trades(path, market=None if spot else Market.USDM)
    assert report.continuous
    assert report.rows == len(infos)
    assert [(t.agg_id, t.price, t.quantity, t.buyer_is_maker, t.ts_event_ns) for t in trades] == [
        (i["a"], float(i["p"]), float(i["q"]), i["m"], int(i["T"]) * 10**6) for i in infos
    ]
    assert {(t.symbol, t.market) for t in trades} == {("XRPETH", Market.SPOT if spot else Market.USDM)}


def test_agg_trade_id_gap(tmp_path: Path) -> None:
    rows = [["1", "0.5", "1", "1", "1", "1570752011620", "true", "true"],
            ["4", "0.5", "1", "2", "2", "1570752011621", "false", "true"],
            ["5", "-0.5", "1", "3", "3", "1570752011622", "false", "true"]]  # fmt: skip
    trades, report = import_agg_trades(write_csv(tmp_path / "X-aggTrades-2019-10.csv", rows))
    assert [t.agg_id for t in trades] == [1, 4]
    assert (report.missing, report.gaps, report.bad_rows) == (2, [(1, 4)], 1)


def test_names_and_intervals() -> None:
    assert parse_archive_name("a/BTCUSDT-1h-2024-08.zip") == ArchiveName("BTCUSDT", "1h", "2024-08")
    assert parse_archive_name(ADA) == ArchiveName("ADABTC", "1m", "2021-11-27")
    assert parse_archive_name("BTCUSDT-aggTrades-2024-08-01.zip") == ArchiveName(
        "BTCUSDT", "aggTrades", "2024-08-01"
    )
    assert parse_archive_name("notes.csv") is None
    assert (interval_ms("1m"), interval_ms("4h"), interval_ms("1w"), interval_ms("1mo")) == (
        60_000,
        14_400_000,
        604_800_000,
        None,
    )
    assert isinstance(import_klines(shared_data() / "archive" / ADA)[0][0], Bar)


def test_whole_file_and_row_by_row_paths_agree(tmp_path: Path) -> None:
    """Plain files take the one-decode path; quoting forces the csv path: both give the same bars."""
    rows = ada_rows()
    plain, plain_report = import_klines(shared_data() / "archive" / ADA)
    quoted = tmp_path / "quoted" / ADA
    quoted.parent.mkdir()
    with quoted.open("w", newline="") as f:
        csv.writer(f, quoting=csv.QUOTE_ALL).writerows(rows)
    crlf = tmp_path / "crlf" / ADA
    crlf.parent.mkdir()
    crlf.write_bytes(b"open_time,open\r\n" + b"".join(",".join(r).encode() + b"\r\n" for r in rows))
    for path in (quoted, crlf):
        bars, report = import_klines(path)
        assert bars == plain
        assert report == plain_report


def test_one_bad_value_falls_back_to_counting_rows(tmp_path: Path) -> None:
    rows = ada_rows()
    rows[7][4] = "NaN"  # valid for float(), not JSON: the whole-file decode fails, the row path counts it
    rows[9] = rows[9][:5]
    bars, report = import_klines(write_csv(tmp_path / ADA, rows))
    assert len(bars) == 1438
    assert report.bad_rows == 2
    assert report.rows == 1440


def _parse_errors() -> dict[str, float]:
    """PARSE_ERRORS per kind for spot, as the metric reports them."""
    kinds = ("bad_row", "nan", "inf", "negative", "zero")
    return {
        k: REGISTRY.get_sample_value("cryptoradar_parse_errors_total", {"market": "spot", "kind": k}) or 0.0
        for k in kinds
    }


def _import_counting(path: Path) -> tuple[list[Bar], ContinuityReport, dict[str, float]]:
    before = _parse_errors()
    bars, report = import_klines(path, symbol="ADABTC", interval="1m")
    after = _parse_errors()
    return bars, report, {k: after[k] - before[k] for k in after}


def _micro(row: list[str]) -> list[str]:
    return [str(int(row[0]) * 1000), *row[1:6], str(int(row[6]) * 1000 + 999), *row[7:]]


EDGE_ROWS = {
    "plain": lambda rows: rows,
    "eleven columns": lambda rows: [r[:11] for r in rows],
    "thirteen columns": lambda rows: [[*r, "7"] for r in rows],
    "spaces around numbers": lambda rows: [[f" {x} " for x in r] for r in rows],
    "microseconds in some rows": lambda rows: [_micro(r) if k % 3 == 0 else r for k, r in enumerate(rows)],
    "overflowing price": lambda rows: [*rows[:5], [*rows[5][:2], "1e400", *rows[5][3:]], *rows[6:]],
    "zero price": lambda rows: [*rows[:5], [rows[5][0], "0", *rows[5][2:]], *rows[6:]],
    "negative volume": lambda rows: [*rows[:5], [*rows[5][:5], "-1.5", *rows[5][6:]], *rows[6:]],
    "minus zero volume": lambda rows: [*rows[:5], [*rows[5][:5], "-0.0", *rows[5][6:]], *rows[6:]],
    "close time too late to be closed": lambda rows: [
        *rows[:-1],
        [*rows[-1][:6], str(2**62 * 1000 + 999), *rows[-1][7:]],
    ],
    "NaN": lambda rows: [*rows[:5], [*rows[5][:4], "nan", *rows[5][5:]], *rows[6:]],
}


@pytest.mark.parametrize("edit", EDGE_ROWS.values(), ids=EDGE_ROWS.keys())
@pytest.mark.parametrize("line_end", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_checked_decode_and_row_by_row_path_agree_on_edge_rows(
    tmp_path: Path, edit: Callable[[list[list[str]]], list[list[str]]], line_end: str
) -> None:
    """Plain files take the checked one-decode path (or fall back on a bad value); quoted files always
    take the csv path: same bars, same report, same PARSE_ERRORS counts, whatever is in the rows."""
    rows = edit(ada_rows())
    plain = tmp_path / "plain.csv"
    plain.write_text("".join(",".join(r) + line_end for r in rows), newline="")
    quoted = tmp_path / "quoted.csv"
    with quoted.open("w", newline="") as f:
        csv.writer(f, quoting=csv.QUOTE_ALL, lineterminator=line_end).writerows(rows)

    plain_bars, plain_report, plain_errors = _import_counting(plain)
    quoted_bars, quoted_report, quoted_errors = _import_counting(quoted)
    assert plain_bars == quoted_bars
    assert plain_report == quoted_report
    assert plain_errors == quoted_errors
    assert plain_report.rows == len(rows)


def test_a_lone_carriage_return_ends_a_row_as_csv_says(tmp_path: Path) -> None:
    """`,\\r` is JSON whitespace but a row end for csv: the file must not take the one-decode path."""
    rows = ada_rows()
    lines = [",".join(r) for r in rows]
    lines[5] = ",".join(rows[5][:4]) + ",\r" + ",".join(rows[5][4:])
    path = tmp_path / ADA
    path.write_bytes("".join(line + "\r\n" for line in lines).encode())

    bars, report, errors = _import_counting(path)
    assert report.rows == 1441  # csv splits row 5 in two: 5 fields, then 8
    assert report.bad_rows == 2
    assert errors["bad_row"] == 2
    assert len(bars) == 1439
    assert int(rows[5][0]) not in {b.open_time_ms for b in bars}


def test_close_time_beyond_never_is_an_open_bar_on_both_paths(tmp_path: Path) -> None:
    rows = ada_rows()[:3]
    rows[2][6] = str(2**62 * 1000 + 999)  # µs that convert to 2**62 ms: not before `now`
    bars, report = import_klines(write_csv(tmp_path / ADA, rows))
    assert [b.closed for b in bars] == [True, True, False]
    assert report.bad_rows == 0
