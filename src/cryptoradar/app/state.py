"""What survives a restart besides alerts: the last processed closed bar of every series, and the
recent closed bars that warm the detectors.

Saved in the store's key/value table (`series_last_closed`) on shutdown and every
`lifecycle.state_save_interval_s`; on start the feed is anchored from it, so the gap filler fetches the
bars that closed while the process was down and they are emitted once, in order, before live bars.
Because anchored series are not bootstrapped again, the recent bars (`recent_closed_bars`, saved on
shutdown) are replayed into the detectors at start, so their indicators are ready for the first bar.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Protocol

import msgspec

from cryptoradar.core.intervals import FIXED_INTERVAL_MS
from cryptoradar.events import Bar, Market, Signal
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


class HistoryGate:
    """Tells history from news: which signals are about bars that closed before the radar watched them.

    A series with no saved position is bootstrapped from REST, so its first bars closed before the radar
    was watching (by the exchange's clock, as the feed estimates it). They warm the detectors, but a signal about them is history: alerting it would flood
    every first start (and every symbol joining the universe) with setups from hours ago. The watch of a
    series starts one interval before its first bar arrived (so the live bar that closed just before it
    still counts). A series restored from saved state is a continuation: the bars gap-filled after a
    restart closed while the radar should have been watching, and their signals alert.
    Keyed by (symbol, interval), like signals; a signal whose timeframe is no bar interval (the radar's
    windows) is never history.
    """

    def __init__(self, restored: Iterable[SeriesKey] = ()) -> None:
        self._watch_from_ms: dict[tuple[str, str], int] = {(s, i): -1 for _m, s, i in restored}

    def observe(self, bar: Bar, exchange_now_ms: Callable[[Market], int]) -> None:
        """Start watching `bar`'s series if it is new; `exchange_now_ms` is read only then."""
        key = (bar.symbol, bar.interval)
        if key not in self._watch_from_ms:
            self._watch_from_ms[key] = exchange_now_ms(bar.market) - FIXED_INTERVAL_MS.get(bar.interval, 0)

    def is_history(self, signal: Signal) -> bool:
        watch_from_ms = self._watch_from_ms.get((signal.symbol, signal.timeframe))
        return watch_from_ms is not None and signal.window_end_ms < watch_from_ms


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
