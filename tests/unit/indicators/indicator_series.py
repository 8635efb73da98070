"""Input series for the indicator tests: the real candles and a seeded synthetic random walk."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from conftest import shared_data

F64 = npt.NDArray[np.float64]

REAL_CANDLE_FILES = ("XRP_ETH-1m.json", "XRP_ETH-5m.json", "XRP_USDT_USDT-5m-futures.json")


@dataclass(frozen=True)
class Candles:
    """Columns of an OHLCV series; `open_ms` is the bar's open time in Unix milliseconds."""

    name: str
    open_ms: npt.NDArray[np.int64]
    high: F64
    low: F64
    close: F64
    volume: F64

    @property
    def price_scale(self) -> float:
        """Typical price magnitude: absolute tolerances for price-valued outputs scale with it."""
        return float(np.median(np.abs(self.close)))


def real_candles(file_name: str) -> Candles:
    """`[open_time_ms, o, h, l, c, v]` rows from `../shared/data/candles/`."""
    rows = json.loads((shared_data() / "candles" / file_name).read_text())
    table = np.array(rows, dtype=np.float64)
    return Candles(
        name=file_name,
        open_ms=np.array([row[0] for row in rows], dtype=np.int64),
        high=table[:, 2],
        low=table[:, 3],
        close=table[:, 4],
        volume=table[:, 5],
    )


def random_walk(n_bars: int = 4000, seed: int = 20191011, bar_ms: int = 300_000) -> Candles:
    """A log-normal random walk with fat-tailed steps, some flat bars and zero volumes."""
    rng = np.random.default_rng(seed)
    steps = rng.standard_t(df=4, size=n_bars) * 0.002
    steps[rng.random(n_bars) < 0.05] = 0.0  # flat closes, as on illiquid pairs
    close = 100.0 * np.exp(np.cumsum(steps))
    open_ = np.concatenate(([100.0], close[:-1]))
    wick = np.abs(rng.normal(0.0, 0.001, size=(2, n_bars))) * close
    high = np.maximum(open_, close) + wick[0]
    low = np.minimum(open_, close) - wick[1]
    volume = rng.lognormal(3.0, 1.0, size=n_bars)
    volume[rng.random(n_bars) < 0.03] = 0.0
    start_ms = 1_700_000_000_000 - 1_700_000_000_000 % 86_400_000 + 3_600_000  # 01:00 UTC
    open_ms = start_ms + np.arange(n_bars, dtype=np.int64) * bar_ms
    return Candles("random-walk", open_ms, high, low, close, volume)


def sim_candles(ranks: tuple[int, ...], n_bars: int = 2000, seed: int = 11) -> list[Candles]:
    """1m bars of the spot USDT symbols of liquidity `ranks` from the simulator's market model."""
    from cryptoradar.sim.model import C, H, L, MarketModel, V
    from cryptoradar.sim.universe import spot_universe

    first_open_ms = 1_767_225_600_000  # midnight UTC, as the simulator aligns it
    specs = spot_universe(seed, n_usdt_trading=max(ranks) + 1)
    model = MarketModel(specs, seed, stream_id=0, first_open_ms=first_open_ms)
    for _ in range(n_bars):
        model.close_bar({})
    open_ms = first_open_ms + np.arange(n_bars, dtype=np.int64) * 60_000
    out = []
    for rank in ranks:
        rows = model.closed_rows()[:, rank, :]
        out.append(
            Candles(
                f"sim-{specs[rank].name}",
                open_ms,
                rows[:, H].copy(),
                rows[:, L].copy(),
                rows[:, C].copy(),
                rows[:, V].copy(),
            )
        )
    return out
