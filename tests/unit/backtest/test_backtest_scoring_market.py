"""Which market's bars score a signal: the futures radar's on USD-M, the bar detectors' on spot."""

from __future__ import annotations

import pytest

from cryptoradar.backtest.outcomes import PricePath
from cryptoradar.backtest.runner import BacktestOptions, score
from cryptoradar.detectors.momentum import DETECTOR as MOMENTUM
from cryptoradar.detectors.radar import DETECTOR as RADAR
from cryptoradar.events import Bar, Direction, Market, Severity, Signal

MIN = 60_000
T0 = 1_700_000_000_000 // MIN * MIN


def bar(market: Market, i: int, close: float) -> Bar:
    open_ms = T0 + i * MIN
    return Bar(
        market, "BTCUSDT", "1m", open_ms, open_ms + MIN - 1, close, close, close, close,
        1.0, close, 1, 0.5, 0.5 * close, True, (open_ms + MIN) * 1_000_000, 0,
    )  # fmt: skip


def path(market: Market, closes: list[float]) -> PricePath:
    return PricePath.from_bars([bar(market, i, close) for i, close in enumerate(closes)])


def signal(detector: str) -> Signal:
    end = T0 + MIN - 1
    return Signal(
        detector, 1, "oi_surge", "BTCUSDT", "1m", T0, end, Direction.BULLISH, Severity.INFO, (),
        {}, {}, ("BTCUSDT",), (end + 1) * 1_000_000,
    )  # fmt: skip


@pytest.mark.parametrize(("detector", "expected_pct"), [(RADAR, 10.0), (MOMENTUM, -10.0)])
def test_signal_is_scored_on_its_own_market(detector: str, expected_pct: float) -> None:
    # Same symbol on both markets, moving apart after the signal bar: USD-M +10 %, spot -10 %.
    paths = {
        (Market.USDM, "BTCUSDT"): ("1m", path(Market.USDM, [100.0, 105.0, 110.0])),
        (Market.SPOT, "BTCUSDT"): ("1m", path(Market.SPOT, [100.0, 95.0, 90.0])),
    }
    (outcome,) = score([signal(detector)], paths, BacktestOptions(horizons=("2m",)))
    assert outcome.horizons["2m"].return_pct == pytest.approx(expected_pct)
