"""Market model: determinism, bar invariants, time arithmetic, fat tails, seasonality, correlation."""

from __future__ import annotations

import numpy as np

from cryptoradar.sim.model import BAR_MS, HOUR_PROFILE, C, H, L, MarketModel, N, O, V
from cryptoradar.sim.universe import futures_universe, spot_universe

DAY0 = 1_767_225_600_000


def _model(seed: int, bars: int) -> MarketModel:
    model = MarketModel(spot_universe(seed, 300), seed, 1, DAY0)
    for _ in range(bars):
        model.close_bar({})
    return model


def test_same_seed_same_bars_other_seed_other_bars() -> None:
    a, b, c = _model(5, 50), _model(5, 50), _model(6, 50)
    assert np.array_equal(a.closed_rows(), b.closed_rows())
    assert not np.array_equal(a.closed_rows()[:, 0, C], c.closed_rows()[:, 0, C])


def test_universe_has_filtering_work_to_do() -> None:
    specs = spot_universe(7, 300)
    usdt_trading = [s for s in specs if s.quote == "USDT" and s.trading]
    assert len(usdt_trading) == 300
    assert any(not s.trading for s in specs)
    assert any(s.quote != "USDT" for s in specs)
    assert all(s.name == s.name.upper() for s in specs)
    volumes = sorted((s.quote_per_min for s in usdt_trading), reverse=True)
    assert volumes[0] > 100 * volumes[150]  # heavy tail: a liquidity filter keeps a subset
    fut = futures_universe(7, 50, DAY0)
    assert sum("_" in s.name for s in fut) == 2
    assert {s.underlying_type for s in fut} >= {"COIN", "EQUITY", "COMMODITY"}


def test_bar_invariants_and_flat_zero_trade_bars() -> None:
    rows = _model(1, 300).closed_rows()
    assert (rows[:, :, H] >= np.maximum(rows[:, :, O], rows[:, :, C])).all()
    assert (rows[:, :, L] <= np.minimum(rows[:, :, O], rows[:, :, C])).all()
    assert (rows[:, :, V] >= 0).all()
    assert np.array_equal(rows[1:, :, O], rows[:-1, :, C])  # each bar opens at the previous close
    empty = rows[:, :, N] == 0
    assert empty.any()
    assert np.array_equal(rows[:, :, O][empty], rows[:, :, C][empty])
    assert np.array_equal(rows[:, :, H][empty], rows[:, :, L][empty])
    assert (rows[:, :, V][empty] == 0).all()


def test_higher_interval_bars_aggregate_1m_and_close_time_arithmetic() -> None:
    model = _model(2, 30)
    five = model.symbol_bars(0, 5 * BAR_MS, DAY0, DAY0 + 25 * BAR_MS, with_current=False)
    ones = model.closed_rows()[:5, 0]
    t, row = five[0]
    assert t == DAY0
    assert row[O] == ones[0, O]
    assert row[C] == ones[-1, C]
    assert row[H] == ones[:, H].max()
    assert [t for t, _ in five] == [DAY0 + i * 5 * BAR_MS for i in range(6)]


def test_returns_are_fat_tailed_and_correlated() -> None:
    rows = _model(4, 1440).closed_rows()
    liquid = rows[:, 1:60, :]
    r = np.log(liquid[:, :, C] / liquid[:, :, O])
    z = (r - r.mean(axis=0)) / r.std(axis=0)
    excess_kurtosis = float((z**4).mean() - 3.0)
    assert excess_kurtosis > 1.0
    corr = np.corrcoef(r.T)
    assert float(corr[np.triu_indices_from(corr, 1)].mean()) > 0.1


def test_volume_follows_the_utc_hour_profile() -> None:
    rows = _model(8, 1440).closed_rows()
    hours = np.arange(1440) // 60
    quote = rows[:, :100, 5].sum(axis=1)
    busy, quiet = int(np.argmax(HOUR_PROFILE)), int(np.argmin(HOUR_PROFILE))
    assert quote[hours == busy].mean() > 1.5 * quote[hours == quiet].mean()
