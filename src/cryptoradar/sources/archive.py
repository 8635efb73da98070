"""Import data.binance.vision kline and aggTrades files (.csv or .zip) as closed bars and trades.

Layouts (see binance-protocol.md §7): klines have 12 columns in REST row order; spot aggTrades have 8
(`agg_trade_id, price, qty, first_trade_id, last_trade_id, timestamp, is_buyer_maker, is_best_match`),
futures 7 (no `is_best_match`). Futures files from mid-2022 on start with a header row, older and spot
files do not: the first line is sniffed. Timestamps are ms or µs, detected per value (>= 1e15 is µs).

`symbol`, `interval` and the kind of file come from the arguments or from the file name
(`ADABTC-1m-2021-11-27.csv`, `BTCUSDT-aggTrades-2024-08.zip`). The market comes from the argument, or from
a `futures/um` / `spot` folder in the path, else spot. Gaps and bad rows are counted in the returned
`ContinuityReport`, never fatal.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import msgspec
import structlog

from cryptoradar.core.intervals import FIXED_INTERVAL_MS
from cryptoradar.core.metrics import PARSE_ERRORS
from cryptoradar.events import Bar, Market, Trade
from cryptoradar.sources.binance import wire
from cryptoradar.sources.binance.checks import INF, US_THRESHOLD, ns_from_venue, number_kind
from cryptoradar.sources.binance.rest_parse import bars_from_rows

__all__ = [
    "ArchiveName",
    "ContinuityReport",
    "import_agg_trades",
    "import_klines",
    "interval_ms",
    "market_in_path",
    "parse_archive_name",
]

_NAME = re.compile(
    r"^(?P<symbol>[A-Z0-9]+)-(?P<kind>aggTrades|trades|\d+(?:s|m|h|d|w|mo))-(?P<date>\d{4}-\d{2}(?:-\d{2})?)"
    r"\.(?:csv|zip)$"
)
_log = structlog.get_logger(__name__)
_NEVER_MS = 2**62
"""`now` for archive rows: every archived bar is final."""
_LONE_CR = re.compile(rb"\r(?!\n)")


class _CheckedKlineRow(msgspec.Struct, array_like=True, gc=False):
    """A kline row that passes every check of `bars_from_rows` while it is decoded (in C).

    Prices finite and > 0, amounts finite and >= 0, exactly `bars_from_rows`' comparisons (JSON has no
    NaN or inf; an overflowing literal fails). `close_time` below `_NEVER_MS` (as µs too, so also as ms)
    makes every row closed under the `now = _NEVER_MS` rule.
    """

    open_time: int
    open: wire.Price
    high: wire.Price
    low: wire.Price
    close: wire.Price
    volume: wire.Amount
    close_time: Annotated[int, msgspec.Meta(lt=_NEVER_MS)]
    quote_volume: wire.Amount
    count: int
    taker_buy_volume: wire.Amount
    taker_buy_quote_volume: wire.Amount


_CHECKED_KLINE_ROWS = msgspec.json.Decoder(list[_CheckedKlineRow])


class ArchiveName(msgspec.Struct, frozen=True):
    symbol: str
    kind: str
    """`aggTrades`, `trades`, or a kline interval such as `1m`."""
    date: str


class ContinuityReport(msgspec.Struct):
    """What an import found. `gaps` lists (last seen, next seen) open times or agg ids around each hole."""

    rows: int = 0
    bad_rows: int = 0
    missing: int = 0
    """Bars (or agg ids) absent between consecutive rows."""
    out_of_order: int = 0
    """Rows at or before the previous one (duplicates included)."""
    gaps: list[tuple[int, int]] = msgspec.field(default_factory=list)

    @property
    def continuous(self) -> bool:
        return self.missing == 0 and self.out_of_order == 0 and self.bad_rows == 0


def parse_archive_name(path: str | Path) -> ArchiveName | None:
    """Symbol, kind and date from an archive file name; None if the name does not follow the pattern."""
    match = _NAME.match(Path(path).name)
    if match is None:
        return None
    return ArchiveName(match["symbol"], match["kind"], match["date"])


def interval_ms(interval: str) -> int | None:
    """Length of a fixed interval (`1s`..`1w`); None for calendar months (`1mo`, `1M`)."""
    return FIXED_INTERVAL_MS.get(interval)


def import_klines(
    path: str | Path,
    market: Market | None = None,
    symbol: str | None = None,
    interval: str | None = None,
    ts_recv_ns: int = 0,
) -> tuple[list[Bar], ContinuityReport]:
    """A kline archive file as closed bars in file order, with a continuity report."""
    name = parse_archive_name(path)
    symbol = symbol or (name.symbol if name else None)
    interval = interval or (name.kind if name and name.kind not in ("aggTrades", "trades") else None)
    if symbol is None or interval is None:
        raise ValueError(f"{path}: pass symbol and interval, the file name does not carry them")
    market = market or _market_from_path(path)
    report = ContinuityReport()
    data = _read_bytes(path)
    checked = _kline_rows_whole(data)
    if checked is not None:
        report.rows = len(checked)
        bars = _closed_bars(checked, market, symbol, interval, ts_recv_ns)
    else:
        rows = []
        for fields in _rows(io.StringIO(data.decode("utf-8"), newline="")):
            report.rows += 1
            try:
                rows.append(
                    wire.KlineRow(
                        int(fields[0]), float(fields[1]), float(fields[2]), float(fields[3]),
                        float(fields[4]), float(fields[5]), int(fields[6]), float(fields[7]),
                        int(fields[8]), float(fields[9]), float(fields[10]),
                    )
                )  # fmt: skip
            except (ValueError, IndexError):
                _bad_row(report, market, "bad_row")
        bars = bars_from_rows(rows, market, symbol, interval, _NEVER_MS, ts_recv_ns)
        report.bad_rows += len(rows) - len(bars)
    step_ms = interval_ms(interval)
    if step_ms is not None:
        _check_sequence(report, [b.open_time_ms for b in bars], step_ms)
    _report(path, report)
    return bars, report


def import_agg_trades(
    path: str | Path,
    market: Market | None = None,
    symbol: str | None = None,
    ts_recv_ns: int = 0,
) -> tuple[list[Trade], ContinuityReport]:
    """An aggTrades archive file as trades in file order; continuity is checked on the agg ids."""
    name = parse_archive_name(path)
    symbol = symbol or (name.symbol if name else None)
    if symbol is None:
        raise ValueError(f"{path}: pass symbol, the file name does not carry it")
    market = market or _market_from_path(path)
    report = ContinuityReport()
    trades: list[Trade] = []
    for fields in _csv_rows(path):
        report.rows += 1
        try:
            agg_id, price, qty, ts = int(fields[0]), float(fields[1]), float(fields[2]), int(fields[5])
            buyer_is_maker = _parse_bool(fields[6])
        except (ValueError, IndexError):
            _bad_row(report, market, "bad_row")
            continue
        if not (0.0 < price < INF and 0.0 <= qty < INF):
            _bad_row(report, market, number_kind(price, qty))
            continue
        trades.append(
            Trade(market, symbol, agg_id, price, qty, buyer_is_maker, ns_from_venue(ts), ts_recv_ns)
        )
    _check_sequence(report, [t.agg_id for t in trades], 1)
    _report(path, report)
    return trades, report


def _report(path: str | Path, report: ContinuityReport) -> None:
    if not report.continuous:
        _log.warning(
            "archive_not_continuous",
            path=str(path),
            rows=report.rows,
            bad_rows=report.bad_rows,
            missing=report.missing,
            out_of_order=report.out_of_order,
            first_gaps=report.gaps[:5],
        )


def _check_sequence(report: ContinuityReport, keys: list[int], step: int) -> None:
    if not keys or keys == list(range(keys[0], keys[0] + len(keys) * step, step)):
        return  # the usual file: every key once, in order, no gap (a list compare is C, the loop is not)
    previous: int | None = None
    for key in keys:
        if previous is not None:
            if key <= previous:
                report.out_of_order += 1
                continue
            if key != previous + step:
                report.missing += (key - previous) // step - 1
                report.gaps.append((previous, key))
        previous = key


def _bad_row(report: ContinuityReport, market: Market, kind: str) -> None:
    report.bad_rows += 1
    PARSE_ERRORS.labels(market.value, kind).inc()


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise ValueError(f"not a boolean: {text!r}")


def market_in_path(path: str | Path) -> Market | None:
    """The market a data.binance.vision folder says (`.../futures/um/...`, `.../spot/...`), else None."""
    text = "/" + Path(path).as_posix()
    if "futures/um" in text:
        return Market.USDM
    return Market.SPOT if "/spot/" in text else None


def _market_from_path(path: str | Path) -> Market:
    return market_in_path(path) or Market.SPOT


def _read_bytes(path: str | Path) -> bytes:
    """The whole CSV (the first .csv member of a zip), as bytes."""
    path = Path(path)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            return archive.read(_csv_member(archive))
    return path.read_bytes()


def _csv_member(archive: zipfile.ZipFile) -> str:
    """The first .csv member of a zip (its first member if none is named .csv)."""
    return next((n for n in archive.namelist() if n.endswith(".csv")), archive.namelist()[0])


def _kline_rows_whole(data: bytes) -> list[_CheckedKlineRow] | None:
    """Every row of a well-formed kline CSV in one checked msgspec decode, or None for the row-by-row path.

    A kline CSV of plain unquoted numbers is a JSON array once its `\\n` become `],[` (a `\\r` before
    them is JSON whitespace), and decoding it whole is several times faster than `csv` plus
    `int`/`float` per field. The strict decoder takes exactly the rows the row-by-row path would keep
    without complaint (integers where it calls `int`, numbers where it calls `float`, both correctly
    rounded, in range as `_CheckedKlineRow` says); anything else (quotes, blank lines, a lone `\\r`,
    NaN, short rows, a bad or out-of-range value anywhere) makes the whole decode fail, and then the
    row-by-row path decides and counts, so both paths give the same bars, report and metrics.
    """
    if b'"' in data:
        return None
    body = data.rstrip(b"\r\n")
    if not body:
        return []
    first_end = body.find(b"\n")
    first_field = body[: first_end if first_end >= 0 else len(body)].split(b",", 1)[0]
    if not first_field.strip().lstrip(b"-").isdigit():  # a header row, as `_rows` decides
        if first_end < 0:
            return []
        body = body[first_end + 1 :]
    if b"\r" in body and _LONE_CR.search(body):
        return None  # a CR not before a LF ends a row for `csv`, not for JSON
    try:
        return _CHECKED_KLINE_ROWS.decode(b"[[" + body.replace(b"\n", b"],[") + b"]]")
    except msgspec.DecodeError:
        return None


def _closed_bars(
    rows: list[_CheckedKlineRow], market: Market, symbol: str, interval: str, ts_recv_ns: int
) -> list[Bar]:
    """`bars_from_rows(rows, ..., now_ms=_NEVER_MS, ...)` for rows the decoder has already checked.

    Nothing is left to drop, so one comprehension builds the bars: every one closed, `ts_event_ns` its
    close time + 1 ms. `ms_from_venue` is inlined (µs when >= 1e15): a call per timestamp would cost
    as much as building the bar.
    """
    return [
        Bar(
            market, symbol, interval,
            r.open_time if r.open_time < US_THRESHOLD else r.open_time // 1_000,
            (close_ms := r.close_time if r.close_time < US_THRESHOLD else r.close_time // 1_000),
            r.open, r.high, r.low, r.close, r.volume, r.quote_volume, r.count,
            r.taker_buy_volume, r.taker_buy_quote_volume, True, (close_ms + 1) * 1_000_000, ts_recv_ns,
        )
        for r in rows
    ]  # fmt: skip


def _csv_rows(path: str | Path) -> Iterator[list[str]]:
    """Rows of the CSV (inside the zip if it is one), without a header row if the file has one."""
    path = Path(path)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive, archive.open(_csv_member(archive)) as member:
            yield from _rows(io.TextIOWrapper(member, encoding="utf-8", newline=""))
    else:
        with path.open(encoding="utf-8", newline="") as f:
            yield from _rows(f)


def _rows(text: io.TextIOBase) -> Iterator[list[str]]:
    for n, fields in enumerate(csv.reader(text)):
        if not fields:
            continue
        if n == 0 and not fields[0].strip().lstrip("-").isdigit():
            continue  # a header row (futures files from mid-2022 on)
        yield fields
