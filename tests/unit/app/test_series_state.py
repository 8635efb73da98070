"""The saved last-closed map round-trips, and only moves forward per series."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from cryptoradar.app.reload import warm
from cryptoradar.app.state import (
    RECENT_BARS_KEY,
    ProcessedBars,
    decode_last_closed,
    encode_last_closed,
    load_last_closed,
    load_recent_bars,
    save_last_closed,
    save_recent_bars,
)
from cryptoradar.config.detectors import DetectorsConfig, MomentumConfig
from cryptoradar.detectors.engine import DetectorSet
from cryptoradar.events import Bar, Market
from cryptoradar.storage.sqlite import SqliteStore


def _bar(market: Market, symbol: str, interval: str, open_ms: int) -> Bar:
    return Bar(
        market, symbol, interval, open_ms, open_ms + 59_999,
        1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1, 0.5, 0.5, True, 0, 0,
    )  # fmt: skip


def test_round_trip() -> None:
    saved = {(Market.SPOT, "BTCUSDT", "1m"): 120_000, (Market.USDM, "BTCUSDT", "1m"): 60_000}
    assert decode_last_closed(encode_last_closed(saved)) == saved


def test_damaged_state_raises_instead_of_guessing() -> None:
    with pytest.raises(msgspec.ValidationError):
        decode_last_closed('[["spot", "BTCUSDT", "1m", "not a number"]]')


def test_processed_bars_keep_the_newest_open_time_per_series() -> None:
    processed = ProcessedBars({(Market.SPOT, "ETHUSDT", "1m"): 60_000})
    processed.observe(_bar(Market.SPOT, "ETHUSDT", "1m", 120_000))
    processed.observe(_bar(Market.SPOT, "ETHUSDT", "1m", 60_000))
    processed.observe(_bar(Market.USDM, "ETHUSDT", "1m", 0))
    assert processed.last_closed == {
        (Market.SPOT, "ETHUSDT", "1m"): 120_000,
        (Market.USDM, "ETHUSDT", "1m"): 0,
    }


async def test_saved_recent_bars_warm_a_fresh_detector_set(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "state.db")
    await store.open()
    try:
        bars = [
            _bar(Market.SPOT, symbol, "1m", i * 60_000) for symbol in ("AUSDT", "BUSDT") for i in range(30)
        ]
        bars.sort(key=lambda b: b.open_time_ms)
        await save_recent_bars(store, bars)
        await save_last_closed(store, {(Market.SPOT, "AUSDT", "1m"): 29 * 60_000})
        loaded = await load_recent_bars(store)
        assert loaded == bars
        assert await load_last_closed(store) == {(Market.SPOT, "AUSDT", "1m"): 29 * 60_000}
    finally:
        await store.close()
    detectors = DetectorSet(DetectorsConfig(momentum=MomentumConfig(timeframe="1m", trend_timeframes=())))
    assert detectors.momentum is not None
    assert detectors.momentum.state_sizes()[0] == 0
    warm(detectors, loaded)
    assert detectors.momentum.state_sizes()[0] == 2, "both symbols' series are built from the saved bars"
    assert detectors.momentum.pending_count() == 0, "nothing from the past is waiting to be signalled"


async def test_missing_or_damaged_recent_bars_mean_no_warm_up(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "state.db")
    await store.open()
    try:
        assert await load_recent_bars(store) == []
        await store.set_state(RECENT_BARS_KEY, "{not json")
        assert await load_recent_bars(store) == []
    finally:
        await store.close()
