"""What survives a restart besides alerts: the last processed closed bar of every series, and the
recent closed bars that warm the detectors.

Saved in the store's key/value table (`series_last_closed`) on shutdown and every
`lifecycle.state_save_interval_s`; on start the feed is anchored from it, so the gap filler fetches the
bars that closed while the process was down and they are emitted once, in order, before live bars.
Because anchored series are not bootstrapped again, the recent bars (`recent_closed_bars`, saved on
shutdown) are replayed into the detectors at start, so their indicators are ready for the first bar.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import IO, Protocol

import msgspec

from cryptoradar.events import Bar, Market
from cryptoradar.sources.binance.feed import SeriesKey

STATE_KEY = "series_last_closed"
RECENT_BARS_KEY = "recent_closed_bars"


class StateStore(Protocol):
    async def get_state(self, key: str) -> str | None: ...
    async def set_state(self, key: str, value: str) -> None: ...


class _SeriesRow(msgspec.Struct, array_like=True, frozen=True):
    market: Market
    symbol: str
    interval: str
    last_closed_open_ms: int


def encode_last_closed(last_closed: dict[SeriesKey, int]) -> str:
    rows = [_SeriesRow(m, s, i, t) for (m, s, i), t in sorted(last_closed.items())]
    return msgspec.json.encode(rows).decode()


def decode_last_closed(text: str) -> dict[SeriesKey, int]:
    """Raises `msgspec.ValidationError`/`DecodeError` on a damaged value (the caller decides what to do)."""
    rows = msgspec.json.decode(text, type=list[_SeriesRow])
    return {(r.market, r.symbol, r.interval): r.last_closed_open_ms for r in rows}


async def load_last_closed(store: StateStore) -> dict[SeriesKey, int]:
    text = await store.get_state(STATE_KEY)
    return {} if text is None else decode_last_closed(text)


async def save_last_closed(store: StateStore, last_closed: dict[SeriesKey, int]) -> None:
    await store.set_state(STATE_KEY, encode_last_closed(last_closed))


async def load_recent_bars(store: StateStore) -> list[Bar]:
    """The closed bars kept at the last shutdown, oldest first (empty when none or unreadable)."""
    text = await store.get_state(RECENT_BARS_KEY)
    if text is None:
        return []
    try:
        return msgspec.json.decode(text, type=list[Bar])
    except (msgspec.DecodeError, msgspec.ValidationError):
        return []  # a warm-up aid only: without it detectors warm on live bars


async def save_recent_bars(store: StateStore, bars: Iterable[Bar]) -> None:
    await store.set_state(RECENT_BARS_KEY, msgspec.json.encode(list(bars)).decode())


class ProcessedBars:
    """The open time of the last closed bar the pipeline processed, per series (what gets saved)."""

    def __init__(self, initial: dict[SeriesKey, int] | None = None) -> None:
        self.last_closed: dict[SeriesKey, int] = dict(initial or {})

    def observe(self, bar: Bar) -> None:
        key = (bar.market, bar.symbol, bar.interval)
        if bar.open_time_ms > self.last_closed.get(key, -1):
            self.last_closed[key] = bar.open_time_ms


class _JournalLine(msgspec.Struct, frozen=True):
    market: Market
    symbol: str
    interval: str
    open_ms: int
    close: float


class BarJournal:
    """Appends one JSON line per processed closed bar to a file (an audit of exactly what was seen)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[bytes] = path.open("ab")
        self._encoder = msgspec.json.Encoder()

    def write(self, bar: Bar) -> None:
        line = _JournalLine(bar.market, bar.symbol, bar.interval, bar.open_time_ms, bar.close)
        self._file.write(self._encoder.encode(line) + b"\n")

    def close(self) -> None:
        self._file.close()
