"""History versus news: signals about bootstrap bars are not alerted; a restored series' gap bars are."""

from __future__ import annotations

from collections.abc import Callable

from cryptoradar.app.state import HistoryGate
from cryptoradar.events import Bar, Market, Signal
from fakes.signals import make_signal

MINUTE_MS = 60_000
NOW_MS = 1_767_225_600_000  # the radar's clock when the first bar of a series arrives


def at(now_ms: int) -> Callable[[Market], int]:
    """The exchange clock as the feed would estimate it, frozen at `now_ms`."""
    return lambda _market: now_ms


def closed_bar(symbol: str, interval: str, open_ms: int, length_ms: int = MINUTE_MS) -> Bar:
    return Bar(
        Market.SPOT, symbol, interval, open_ms, open_ms + length_ms - 1,
        1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1, 0.5, 0.5, True, 0, 0,
    )  # fmt: skip


def about(symbol: str, interval: str, close_ms: int) -> Signal:
    """A signal whose window ends at `close_ms` (the close time of the bar it is about)."""
    return make_signal(symbol=symbol, timeframe=interval, at_ns=(close_ms + 1) * 1_000_000)


def test_bootstrap_bars_are_history_and_the_last_interval_is_news() -> None:
    gate = HistoryGate()
    gate.observe(closed_bar("BTCUSDT", "1m", NOW_MS - 100 * MINUTE_MS), at(NOW_MS))
    # Closed more than one interval before the watch began: warm-up.
    assert gate.is_history(about("BTCUSDT", "1m", NOW_MS - MINUTE_MS - 1))
    # The live bar that closed just before the series was first seen, and everything later: news.
    assert not gate.is_history(about("BTCUSDT", "1m", NOW_MS - MINUTE_MS))
    assert not gate.is_history(about("BTCUSDT", "1m", NOW_MS + 5 * MINUTE_MS))


def test_the_watch_starts_at_the_first_bar_of_each_series_and_then_stays() -> None:
    gate = HistoryGate()
    gate.observe(closed_bar("BTCUSDT", "1m", NOW_MS - 30 * MINUTE_MS), at(NOW_MS))
    later_ms = NOW_MS + 60 * MINUTE_MS
    gate.observe(closed_bar("BTCUSDT", "1m", later_ms - MINUTE_MS), at(later_ms))  # does not move the watch
    assert not gate.is_history(about("BTCUSDT", "1m", NOW_MS + MINUTE_MS))
    # A symbol joining later is watched from its own first bar; the 15m watch allows one 15m interval.
    gate.observe(closed_bar("NEWUSDT", "15m", later_ms - 40 * 15 * MINUTE_MS, 15 * MINUTE_MS), at(later_ms))
    assert gate.is_history(about("NEWUSDT", "15m", later_ms - 16 * MINUTE_MS))
    assert not gate.is_history(about("NEWUSDT", "15m", later_ms - 15 * MINUTE_MS))


def test_restored_series_alert_their_gap_and_unknown_timeframes_are_never_history() -> None:
    gate = HistoryGate([(Market.SPOT, "BTCUSDT", "1m")])
    gate.observe(closed_bar("BTCUSDT", "1m", NOW_MS - 100 * MINUTE_MS), at(NOW_MS))
    assert not gate.is_history(about("BTCUSDT", "1m", NOW_MS - 99 * MINUTE_MS))
    # The futures radar's windows are not bar series.
    assert not gate.is_history(about("ETHUSDT", "30s", NOW_MS - 100 * MINUTE_MS))
