"""freqtrade's candle files: names that say pair, interval and market, and their feather or JSON rows.

freqtrade (`freqtrade download-data`) writes one file per pair, interval and candle type:

- spot: `BTC_USDT-5m.feather` (pair `BTC/USDT`);
- USD-M perpetuals: `BTC_USDT_USDT-5m-futures.feather` (pair `BTC/USDT:USDT`), with `-mark` (mark price
  candles) and `-funding_rate` (funding events: the rate in `open`, the other columns 0) beside them.

Formats: `.feather` (Arrow IPC; columns `date` as UTC timestamps, `open`, `high`, `low`, `close`,
`volume`; read with pyarrow, imported only when a feather file is read) and `.json` / `.json.gz` (an array
of `[open_time_ms, o, h, l, c, v]` rows, as `candles.read_ohlcv_json` reads). Neither carries quote
volume: it is estimated as `volume x close`, as for every JSON candle array (docs/backtest.md).
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import msgspec

from cryptoradar.backtest.candles import bars_from_ohlcv, read_ohlcv_json
from cryptoradar.events import Bar, Market

__all__ = ["FREQTRADE_PATTERNS", "CandleType", "FreqtradeInput", "parse_freqtrade_name", "read_freqtrade"]

_NAME = re.compile(
    r"^(?P<pair>[A-Za-z0-9]+_[A-Za-z0-9]+(?:_(?P<settle>[A-Za-z0-9]+))?)-(?P<interval>\d+[smhdw])"
    r"(?:-(?P<type>futures|mark|funding_rate))?\.(?P<ext>feather|json|json\.gz|jsongz)$"
)
FREQTRADE_PATTERNS = (
    "BASE_QUOTE-<tf>.feather|json (freqtrade spot, e.g. BTC_USDT-5m.feather)",
    "BASE_QUOTE_SETTLE-<tf>-futures|mark|funding_rate.feather|json (freqtrade USD-M, "
    "e.g. BTC_USDT_USDT-5m-futures.feather)",
)
_NS_PER_MS = 1_000_000
_FUNDING_ROWS = msgspec.json.Decoder(list[tuple[int, float, float, float, float, float]], strict=False)
_Row = tuple[int, float | None, float | None, float | None, float | None, float | None]


class CandleType(StrEnum):
    """freqtrade's candle types that a file name can carry (spot and futures candles are both PRICE)."""

    PRICE = "price"
    MARK = "mark"
    FUNDING_RATE = "funding_rate"


@dataclass(frozen=True, slots=True)
class FreqtradeInput:
    path: Path
    market: Market
    symbol: str
    interval: str
    candle_type: CandleType = CandleType.PRICE


def parse_freqtrade_name(path: Path, market: Market | None = None) -> FreqtradeInput | None:
    """The input a freqtrade file name describes; None when the name is not freqtrade's.

    The market comes from the name when it says (`-futures`, `-mark`, `-funding_rate`, or a settle
    currency as in `BTC_USDT_USDT`); otherwise from `market`, else spot (freqtrade's spot naming).
    """
    match = _NAME.match(path.name)
    if match is None:
        return None
    candle_type = CandleType.PRICE if match["type"] in (None, "futures") else CandleType(match["type"])
    says_usdm = match["type"] is not None or match["settle"] is not None
    base, quote = match["pair"].upper().split("_")[:2]
    chosen = Market.USDM if says_usdm else (market or Market.SPOT)
    return FreqtradeInput(path, chosen, base + quote, match["interval"], candle_type)


def read_freqtrade(source: FreqtradeInput) -> list[Bar]:
    """The file's candles as closed bars (bad rows counted in `PARSE_ERRORS` and dropped).

    Funding-rate files are read through `read_funding_rates`, not here: their prices are 0.
    """
    if source.path.suffix == ".feather":
        rows = _feather_rows(source.path)
        return bars_from_ohlcv(rows, source.market, source.symbol, source.interval)
    return read_ohlcv_json(
        source.path, source.market, source.symbol, source.interval, _json_bytes(source.path)
    )


def read_funding_rates(source: FreqtradeInput) -> list[tuple[int, float]]:
    """(funding time ms, rate) of a `-funding_rate` file (freqtrade stores the rate in `open`)."""
    if source.path.suffix == ".feather":
        return [(t, rate) for t, rate, *_ in _feather_rows(source.path) if rate is not None]
    return [(row[0], row[1]) for row in _FUNDING_ROWS.decode(_json_bytes(source.path))]


def _json_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def _feather_rows(path: Path) -> list[_Row]:
    """`[open_time_ms, o, h, l, c, v]` rows of a freqtrade feather file."""
    try:
        import pyarrow as pa  # a dependency, imported lazily: only feather input needs it
        import pyarrow.feather
    except ImportError:
        raise ValueError(
            f"{path}: reading .feather needs pyarrow, a dependency: reinstall cryptoradar"
        ) from None

    try:
        table = pyarrow.feather.read_table(path, columns=["date", "open", "high", "low", "close", "volume"])
    except (pa.ArrowInvalid, KeyError, OSError) as e:
        raise ValueError(f"{path}: not a freqtrade feather file ({e})") from None
    dates = table.column("date")
    if not pa.types.is_timestamp(dates.type):
        raise ValueError(f"{path}: column 'date' is {dates.type}, expected a timestamp")
    nanos = dates.cast(pa.timestamp("ns", dates.type.tz)).cast(pa.int64()).to_pylist()
    columns = [
        table.column(name).cast(pa.float64()).to_pylist()
        for name in ("open", "high", "low", "close", "volume")
    ]
    return [
        (ns // _NS_PER_MS, o, h, lo, c, v)
        for ns, o, h, lo, c, v in zip(nanos, *columns, strict=True)
        if ns is not None
    ]
