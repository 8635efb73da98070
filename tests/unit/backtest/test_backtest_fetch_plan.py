"""Fetch planning: page windows, and the arguments a fetch refuses before it sends anything."""

from __future__ import annotations

from pathlib import Path
from unittest.mock import AsyncMock

import pytest

from cryptoradar.backtest.candles import CandleCache
from cryptoradar.backtest.fetch import FetchRequest, fetch_candles, page_windows
from cryptoradar.events import Bar, Market
from cryptoradar.sources.binance.rest import BinanceRest

MINUTE_MS = 60_000


def _refuses() -> AsyncMock:
    """A klines source that must not be asked: every request fails, and the test checks none was sent."""
    source = AsyncMock(spec=BinanceRest)
    source.klines.side_effect = AssertionError("unexpected klines request")
    return source


def test_page_windows_cover_the_span_without_overlap() -> None:
    assert page_windows(0, 2_500 * MINUTE_MS, MINUTE_MS) == [
        (0, 1_000 * MINUTE_MS - 1),
        (1_000 * MINUTE_MS, 2_000 * MINUTE_MS - 1),
        (2_000 * MINUTE_MS, 2_500 * MINUTE_MS - 1),
    ]
    assert page_windows(0, 1_000 * MINUTE_MS, MINUTE_MS) == [(0, 1_000 * MINUTE_MS - 1)]
    assert page_windows(5, 5, MINUTE_MS) == []


@pytest.mark.parametrize(
    ("symbols", "interval", "from_ms", "to_ms"),
    [
        ((), "1m", 0, MINUTE_MS),
        (("BTCUSDT",), "1M", 0, MINUTE_MS),
        (("BTCUSDT",), "1m", MINUTE_MS, MINUTE_MS),
    ],
    ids=["no symbols", "month has no fixed length", "empty range"],
)
def test_bad_requests_are_refused(symbols: tuple[str, ...], interval: str, from_ms: int, to_ms: int) -> None:
    with pytest.raises(ValueError, match="fetch"):
        FetchRequest(Market.SPOT, symbols, interval, from_ms, to_ms)


async def test_without_a_start_only_series_with_a_cache_can_resume(tmp_path: Path) -> None:
    request = FetchRequest(Market.SPOT, ("btcusdt",), "1m", None, 10 * MINUTE_MS)
    source = _refuses()
    with pytest.raises(ValueError, match="BTCUSDT 1m has no cache"):
        await fetch_candles(source, CandleCache(tmp_path), request)
    source.klines.assert_not_awaited()


async def test_a_complete_cache_sends_no_request(tmp_path: Path) -> None:
    cache = CandleCache(tmp_path)
    bars = [
        Bar(Market.SPOT, "BTCUSDT", "1m", t * MINUTE_MS, (t + 1) * MINUTE_MS - 1, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
            1, 0.5, 0.5, True, (t + 1) * MINUTE_MS * 1_000_000, 0)
        for t in range(10)
    ]  # fmt: skip
    assert cache.append(Market.SPOT, "BTCUSDT", "1m", bars) == 10
    source = _refuses()
    summary = await fetch_candles(
        source, cache, FetchRequest(Market.SPOT, ("BTCUSDT",), "1m", 0, 10 * MINUTE_MS)
    )
    assert (summary.requests, summary.bars_written) == (0, {"BTCUSDT": 0})
    source.klines.assert_not_awaited()
