"""Confluence repeat memory: entries expire exactly `history_ttl_s` after their signal, rewrites included."""

from __future__ import annotations

import random

from cryptoradar.config.detectors import ConfluenceConfig
from cryptoradar.detectors.confluence import ConfluenceDetector
from cryptoradar.events import Bar, Direction, Market

MIN_MS = 60_000
T0_MS = 1_767_225_600_000


def walk(symbols: list[str], bars_per_symbol: int, seed: int) -> list[Bar]:
    """Closed 1m bars in time order, a random walk per symbol (crosses often: many rewrites of a key)."""
    rng = random.Random(seed)
    price = dict.fromkeys(symbols, 100.0)
    out: list[Bar] = []
    for i in range(bars_per_symbol):
        open_ms = T0_MS + i * MIN_MS
        for s in symbols:
            p0 = price[s]
            p1 = price[s] = p0 * (1.0 + rng.gauss(0.0, 0.004))
            volume = rng.uniform(1.0, 100.0)
            hi, lo = max(p0, p1) * 1.001, min(p0, p1) * 0.999
            out.append(
                Bar(Market.SPOT, s, "1m", open_ms, open_ms + MIN_MS - 1, p0, hi, lo, p1, volume,
                    volume * p1, 10, volume / 2, volume * p1 / 2, True,
                    (open_ms + MIN_MS) * 1_000_000, (open_ms + MIN_MS) * 1_000_000)
            )  # fmt: skip
    return out


def test_state_holds_exactly_the_last_signal_per_key_younger_than_the_ttl() -> None:
    symbols = ["AAAUSDT", "BBBUSDT", "CCCUSDT"]
    cfg = ConfluenceConfig(
        symbols=tuple(symbols), intervals=("1m",), min_factors=2, repeat_cooldown_s=120.0, history_ttl_s=600.0
    )
    det = ConfluenceDetector(cfg)
    last: dict[tuple[str, str, Direction], int] = {}
    rewrites = 0
    for b in walk(symbols, 600, seed=5):
        for s in det.on_bar(b):
            key = (s.symbol, s.timeframe, s.direction)
            rewrites += key in last
            last[key] = s.window_end_ms
        expected = {k: t for k, t in last.items() if b.close_time_ms - t < cfg.history_ttl_s * 1000}
        assert {(e.symbol, e.timeframe, e.direction): e.ts_ms for e in det.state().entries} == expected
    assert rewrites > 10  # the rewritten keys (stale expiry items) were exercised
