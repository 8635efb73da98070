"""Local candle files: the resumable JSON-lines cache, and plain JSON arrays of OHLCV rows.

Cache layout: one file per (market, symbol, interval) at `<root>/<market>/<interval>/<SYMBOL>.jsonl`.
Each line is one closed kline in REST row order without the trailing "ignore" field:
`[open_time_ms, open, high, low, close, volume, close_time_ms, quote_volume, trades, taker_buy_volume,
taker_buy_quote_volume]` (numbers or numeric strings, as REST sends them). Lines are appended in
open-time order and only for closed bars, so the file is always a valid prefix of history:

- resume: `next_open_ms()` is the last complete line's open time + interval; a fetcher continues there;
- crash safety: a torn last line (no newline) is ignored on read and cut off by the next `append`.

JSON arrays (`XRP_ETH-1m.json` in the shared data; freqtrade's layout) hold `[open_time_ms, o, h, l, c, v]`
rows. They carry no quote volume, so it is estimated as `volume x close` (documented in docs/backtest.md);
trades and taker volumes are 0.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import msgspec

from cryptoradar.core.metrics import PARSE_ERRORS
from cryptoradar.events import Bar, Market
from cryptoradar.sources.archive import interval_ms
from cryptoradar.sources.binance.rest_parse import bars_from_rows
from cryptoradar.sources.binance.wire import KlineRow

__all__ = ["CandleCache", "bars_from_ohlcv", "read_ohlcv_json"]

_ROW = msgspec.json.Decoder(KlineRow, strict=False)
_OHLCV_ROWS = msgspec.json.Decoder(list[msgspec.Raw])
_OHLCV_ROW = msgspec.json.Decoder(tuple[int, float, float, float, float, float], strict=False)
_ENCODER = msgspec.json.Encoder()
_FINAL_MS = 2**62
"""`now` for stored rows: everything in a candle file is closed."""


def _step_ms(interval: str) -> int:
    step = interval_ms(interval)
    if step is None:
        raise ValueError(f"interval {interval!r}: candle files need a fixed interval (1s..1w)")
    return step


def read_ohlcv_json(
    path: str | Path, market: Market, symbol: str, interval: str, data: bytes | None = None
) -> list[Bar]:
    """A JSON array of `[open_time_ms, o, h, l, c, v]` rows as closed bars (`data`: the file's bytes,
    when the caller already has them, e.g. decompressed).

    Bad rows (wrong shape, non-numbers, non-positive prices) are counted in `PARSE_ERRORS` and dropped; a
    file that is not a JSON array raises `msgspec.DecodeError`.
    """
    rows: list[tuple[int, float, float, float, float, float]] = []
    for raw in _OHLCV_ROWS.decode(Path(path).read_bytes() if data is None else data):
        try:
            rows.append(_OHLCV_ROW.decode(raw))
        except msgspec.DecodeError:
            PARSE_ERRORS.labels(market.value, "bad_row").inc()
    return bars_from_ohlcv(rows, market, symbol, interval)


def bars_from_ohlcv(
    rows: Iterable[tuple[int, float | None, float | None, float | None, float | None, float | None]],
    market: Market,
    symbol: str,
    interval: str,
) -> list[Bar]:
    """`(open_time_ms, o, h, l, c, v)` rows as closed bars; quote volume estimated as `volume x close`.

    Rows with a missing value or a non-positive price are counted in `PARSE_ERRORS` and dropped.
    """
    step = _step_ms(interval)
    klines: list[KlineRow] = []
    for t, o, h, lo, c, v in rows:
        if o is None or h is None or lo is None or c is None or v is None:
            PARSE_ERRORS.labels(market.value, "bad_row").inc()
            continue
        klines.append(KlineRow(t, o, h, lo, c, v, t + step - 1, v * c, 0, 0.0, 0.0))
    return bars_from_rows(klines, market, symbol, interval, _FINAL_MS, 0)


class CandleCache:
    """The on-disk candle cache (format in the module docstring). Synchronous file I/O."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, market: Market, symbol: str, interval: str) -> Path:
        return self.root / market.value / interval / f"{symbol.upper()}.jsonl"

    def read(self, market: Market, symbol: str, interval: str) -> list[Bar]:
        """Every complete row as a closed bar, oldest first; [] when the file does not exist."""
        path = self.path(market, symbol, interval)
        if not path.exists():
            return []
        rows: list[KlineRow] = []
        with path.open("rb") as f:
            for line in f:
                if not line.endswith(b"\n"):
                    break  # a torn write: the next append cuts it off
                try:
                    rows.append(_ROW.decode(line))
                except msgspec.DecodeError:
                    continue
        return bars_from_rows(rows, market, symbol, interval, _FINAL_MS, 0)

    def next_open_ms(self, market: Market, symbol: str, interval: str) -> int | None:
        """Where a fetch resumes: the open time after the last complete row; None for an empty cache."""
        last = self._last_complete_line(self.path(market, symbol, interval))
        if last is None:
            return None
        return _ROW.decode(last).open_time + _step_ms(interval)

    def append(self, market: Market, symbol: str, interval: str, bars: Iterable[Bar]) -> int:
        """Append closed bars newer than the last stored one, in order; returns how many were written."""
        path = self.path(market, symbol, interval)
        path.parent.mkdir(parents=True, exist_ok=True)
        after = self.next_open_ms(market, symbol, interval)
        self._cut_torn_tail(path)
        lines = []
        for b in sorted(bars, key=lambda b: b.open_time_ms):
            if not b.closed or (after is not None and b.open_time_ms < after):
                continue
            row = KlineRow(
                b.open_time_ms, b.open, b.high, b.low, b.close, b.volume, b.close_time_ms,
                b.quote_volume, b.trades, b.taker_buy_volume, b.taker_buy_quote_volume,
            )  # fmt: skip
            lines.append(_ENCODER.encode(row) + b"\n")
            after = b.open_time_ms + 1
        if lines:
            with path.open("ab") as f:
                f.write(b"".join(lines))
                f.flush()
                os.fsync(f.fileno())
        return len(lines)

    @staticmethod
    def _last_complete_line(path: Path) -> bytes | None:
        """Reads only the file's tail: a cache holding years of 1m bars is appended to often."""
        if not path.exists():
            return None
        with path.open("rb") as f:
            size = f.seek(0, os.SEEK_END)
            chunk = 4096
            while True:
                f.seek(max(0, size - chunk))
                tail = f.read()
                end = tail.rfind(b"\n")
                start = tail.rfind(b"\n", 0, end) if end >= 0 else -1
                if start >= 0 or chunk >= size:
                    return tail[start + 1 : end + 1] if end >= 0 else None
                chunk *= 4

    @staticmethod
    def _cut_torn_tail(path: Path) -> None:
        if not path.exists():
            return
        with path.open("r+b") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - 65_536))
            tail = f.read()
            newline = tail.rfind(b"\n")
            keep = size - len(tail) + newline + 1 if newline >= 0 else (0 if size <= 65_536 else size)
            if keep != size:
                f.truncate(keep)
