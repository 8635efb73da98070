"""The seeded market model: 1m bar paths for every symbol of one market, generated one bar at a time.

Each 1m bar is drawn at its open for all symbols at once (numpy), as `SUBSTEPS` sub-step states, so the
server can reveal 3 in-progress updates and the final bar without any per-trade work. Features:
GARCH(1,1) volatility clustering, Student-t shocks, a common market factor (symbols correlate), a UTC-hour
volume profile, volume that clusters with volatility and in slow AR(1) waves, Poisson trade counts
(illiquid symbols get zero-trade bars, flat at the previous close).
Prices are rounded to each symbol's tick and volumes to its lot step when drawn, so every output
(REST, WS, ground truth) formats the same floats into the same strings.

Contract: same specs + seed + sequence of overrides -> identical bars. Higher intervals are aggregated
from 1m bars aligned to the first open (which the simulator aligns to midnight UTC).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from cryptoradar.sim.universe import SymbolSpec

F64 = npt.NDArray[np.float64]
BAR_MS = 60_000
SUBSTEPS = 4
SUBSTEP_MS = BAR_MS // SUBSTEPS
O, H, L, C, V, Q, N, TBV, TBQ = range(9)  # noqa: E741 (the kline field letters)
_N_FIELDS = 9
_T_DF = 4.0
_GARCH_ALPHA = 0.08
_GARCH_BETA = 0.90
_ACTIVITY_PERSISTENCE = 0.95
_ACTIVITY_SHOCK_SD = 0.15
"""Log trading activity follows an AR(1) per symbol (stationary sd ~0.48): volume comes in waves."""
_ACTIVITY_VAR = _ACTIVITY_SHOCK_SD**2 / (1.0 - _ACTIVITY_PERSISTENCE**2)
_HOURS = np.arange(24, dtype=np.float64)
HOUR_PROFILE: F64 = (
    1.0 + 0.7 * np.exp(-(((_HOURS - 14.5) / 3.0) ** 2)) - 0.45 * np.exp(-(((_HOURS - 4.0) / 2.5) ** 2))
)
"""Volume multiplier by UTC hour: busiest around the US open, quietest in the early Asian morning."""

KlineRow = tuple[int, str, str, str, str, str, str, int, str, str]
"""(open_time_ms, o, h, l, c, v, quote_v, trades, taker_buy_v, taker_buy_quote_v) as sent on the wire."""


@dataclass(frozen=True, slots=True)
class BarOverride:
    """Forces one symbol's next bar: a log move of `log_return` over the bar, with `quote_volume`."""

    log_return: float
    quote_volume: float


def _round_to(x: F64, decimals: npt.NDArray[np.int64]) -> F64:
    scale = np.power(10.0, decimals)
    return np.round(x * scale) / scale


class MarketModel:
    """1m bars of one market, from `first_open_ms` on; `current` holds the open bar's sub-step states."""

    def __init__(self, specs: list[SymbolSpec], seed: int, stream_id: int, first_open_ms: int) -> None:
        self.specs = specs
        self.index = {s.name: i for i, s in enumerate(specs)}
        self.first_open_ms = first_open_ms
        n = len(specs)
        self._rng = np.random.default_rng([seed, stream_id])
        self._price_dec = np.array([s.price_decimals for s in specs], dtype=np.int64)
        self._qty_dec = np.array([s.qty_decimals for s in specs], dtype=np.int64)
        self._quote_dec = np.full(n, 8, dtype=np.int64)
        self._quote_per_min = np.array([s.quote_per_min if s.listed else 0.0 for s in specs])
        self._trade_quote = np.array([s.trade_quote for s in specs])
        self._loading = np.array([s.factor_loading for s in specs])
        long_run = np.array([s.vol_1m for s in specs]) ** 2
        self._omega = long_run * (1.0 - _GARCH_ALPHA - _GARCH_BETA)
        self._sigma2 = long_run.copy()
        self._long_run = long_run
        self._season_var = 1.0
        self._activity = np.zeros(n)
        self._close = _round_to(np.array([s.price for s in specs]), self._price_dec)
        self.atr_frac = np.array([s.vol_1m for s in specs]) * 1.5
        """Running 14-bar average of (high - low) / close, per symbol."""
        self._table = np.empty((256, n, _N_FIELDS))
        self.closed_count = 0
        self.first_trade_id = (self._rng.integers(10**8, 10**9, size=n)).astype(np.int64)
        """First trade id of the current bar (the trade ids of earlier bars are below it)."""
        self.current_open_ms = first_open_ms
        self.current: F64 = self._draw({})
        self.revealed = 0
        """How many sub-steps of the current bar are public (0..SUBSTEPS)."""

    @property
    def n_symbols(self) -> int:
        return len(self.specs)

    def set_quote_per_min(self, j: int, quote_per_min: float) -> None:
        """Symbol `j`'s mean 1m quote volume from the next bar drawn on (0: no trades, flat bars)."""
        self._quote_per_min[j] = quote_per_min

    def closed_rows(self) -> F64:
        """All closed 1m bars, shape (closed_count, n_symbols, 9); a view, do not mutate."""
        return self._table[: self.closed_count]

    def state(self) -> F64:
        """The public state of the current bar for every symbol, shape (n_symbols, 9)."""
        if self.revealed == 0:
            out = np.zeros((self.n_symbols, _N_FIELDS))
            out[:, O] = out[:, H] = out[:, L] = out[:, C] = self.current[0, :, O]
            return out
        state: F64 = self.current[self.revealed - 1]
        return state

    def close_bar(self, overrides: dict[int, BarOverride]) -> None:
        """Closes the current bar (it becomes ground truth) and draws the next one with `overrides`."""
        final = self.current[SUBSTEPS - 1]
        if self.closed_count == len(self._table):
            self._table = np.concatenate([self._table, np.empty_like(self._table)])
        self._table[self.closed_count] = final
        self.closed_count += 1
        self.first_trade_id += final[:, N].astype(np.int64)
        log_r = np.log(final[:, C] / final[:, O])
        # The GARCH state sees the de-seasoned return: otherwise the busy hours' larger returns would feed
        # back into the variance (alpha x season + beta > 1) and volatility would explode every afternoon.
        self._sigma2 = self._omega + _GARCH_ALPHA * log_r**2 / self._season_var + _GARCH_BETA * self._sigma2
        self.atr_frac += ((final[:, H] - final[:, L]) / final[:, C] - self.atr_frac) / 14.0
        self._close = final[:, C].copy()
        self.current_open_ms += BAR_MS
        self.current = self._draw(overrides)
        self.revealed = 0

    def _draw(self, overrides: dict[int, BarOverride]) -> F64:
        rng, n = self._rng, self.n_symbols
        hour = (self.current_open_ms // 3_600_000) % 24
        season = float(HOUR_PROFILE[hour])
        self._season_var = 0.5 + 0.5 * season
        sigma = np.sqrt(self._sigma2 * self._season_var) / math.sqrt(SUBSTEPS)
        t_scale = math.sqrt(_T_DF / (_T_DF - 2.0))
        market = rng.standard_t(_T_DF, size=(SUBSTEPS, 1)) / t_scale
        own = rng.standard_t(_T_DF, size=(SUBSTEPS, n)) / t_scale
        shocks = self._loading * market + np.sqrt(1.0 - self._loading**2) * own
        sub_r = sigma * shocks
        quote_vol = self._quote_per_min * season * rng.lognormal(-0.06, 0.35, size=n)
        quote_vol *= 1.0 + 0.5 * np.abs(shocks).sum(axis=0) / SUBSTEPS
        # Volume clusters with volatility (GARCH state) and in slow waves of activity, as on real markets;
        # the activity factor has mean 1 (lognormal correction).
        self._activity = _ACTIVITY_PERSISTENCE * self._activity + rng.normal(0.0, _ACTIVITY_SHOCK_SD, size=n)
        quote_vol *= np.exp(self._activity - _ACTIVITY_VAR / 2.0) * np.sqrt(self._sigma2 / self._long_run)
        for j, ov in overrides.items():
            sub_r[:, j] = ov.log_return * np.array([0.2, 0.3, 0.3, 0.2])
            quote_vol[j] = ov.quote_volume
        trades = rng.poisson(quote_vol / self._trade_quote)
        sub_trades = rng.multinomial(trades, np.full(SUBSTEPS, 1.0 / SUBSTEPS)).T.astype(np.float64)
        for j in overrides:
            sub_trades[:, j] = max(4, int(trades[j]) // SUBSTEPS)
            trades[j] = int(sub_trades[:, j].sum())
        active = sub_trades > 0
        sub_r = np.where(active, sub_r, 0.0)
        opens = self._close
        path = _round_to(opens * np.exp(np.cumsum(sub_r, axis=0)), self._price_dec)
        prev = np.vstack([opens[None, :], path[:-1]])
        wick = np.abs(rng.normal(0.0, 0.3, size=(2, SUBSTEPS, n))) * sigma
        hi = np.where(active, _round_to(np.maximum(prev, path) * (1.0 + wick[0]), self._price_dec), opens)
        lo = np.where(active, _round_to(np.minimum(prev, path) * (1.0 - wick[1]), self._price_dec), opens)
        share = np.divide(sub_trades, trades, out=np.zeros_like(sub_trades), where=trades > 0)
        mid = (prev + path) / 2.0
        base = _round_to(quote_vol * share / mid, self._qty_dec)
        quote = _round_to(base * mid, self._quote_dec)
        buy_frac = np.clip(0.5 + 0.25 * np.tanh(sub_r / np.maximum(sigma, 1e-12)), 0.05, 0.95)
        out = np.empty((SUBSTEPS, n, _N_FIELDS))
        out[:, :, O] = opens
        out[:, :, H] = np.maximum.accumulate(np.maximum(hi, opens), axis=0)
        out[:, :, L] = np.minimum.accumulate(np.minimum(lo, opens), axis=0)
        out[:, :, C] = path
        out[:, :, V] = _round_to(np.cumsum(base, axis=0), self._qty_dec)
        out[:, :, Q] = _round_to(np.cumsum(quote, axis=0), self._quote_dec)
        out[:, :, N] = np.cumsum(sub_trades, axis=0)
        out[:, :, TBV] = _round_to(
            np.cumsum(_round_to(base * buy_frac, self._qty_dec), axis=0), self._qty_dec
        )
        out[:, :, TBQ] = _round_to(
            np.cumsum(_round_to(quote * buy_frac, self._quote_dec), axis=0), self._quote_dec
        )
        return out

    def symbol_bars(
        self, j: int, interval_ms: int, start_ms: int, end_ms: int, with_current: bool
    ) -> list[tuple[int, F64]]:
        """(open_ms, row) for symbol `j` at `interval_ms`, bars opening in [start_ms, end_ms], oldest first.

        The in-progress bar (built from the current 1m state) is included when `with_current` is true.
        """
        group = interval_ms // BAR_MS
        lo = max(0, (start_ms - self.first_open_ms) // interval_ms * group)
        hi = min(self.closed_count, (end_ms - self.first_open_ms) // interval_ms * group + group)
        rows = self._table[lo:hi, j, :] if hi > lo else np.empty((0, _N_FIELDS))
        if (
            with_current
            and hi >= self.closed_count
            and end_ms >= self.current_open_ms // interval_ms * interval_ms
        ):
            rows = np.vstack([rows, self.state()[j][None, :]])
        out: list[tuple[int, F64]] = []
        for g0 in range(0, len(rows), group):
            open_ms = self.first_open_ms + (lo + g0) * BAR_MS
            if start_ms <= open_ms <= end_ms:
                out.append((open_ms, aggregate(rows[g0 : g0 + group], int(self._qty_dec[j]))))
        return out

    def format_row(self, j: int, open_ms: int, row: F64) -> KlineRow:
        spec = self.specs[j]
        p, qd, qq = (
            spec.wire_decimals,
            (8 if spec.wire_decimals == 8 else spec.qty_decimals),
            self._quote_fmt(j),
        )
        return (
            open_ms,
            f"{row[O]:.{p}f}",
            f"{row[H]:.{p}f}",
            f"{row[L]:.{p}f}",
            f"{row[C]:.{p}f}",
            f"{row[V]:.{qd}f}",
            f"{row[Q]:.{qq}f}",
            int(row[N]),
            f"{row[TBV]:.{qd}f}",
            f"{row[TBQ]:.{qq}f}",
        )

    def _quote_fmt(self, j: int) -> int:
        return 8 if self.specs[j].wire_decimals == 8 else 4

    def fmt_price(self, j: int, price: float) -> str:
        return f"{price:.{self.specs[j].wire_decimals}f}"

    def fmt_qty(self, j: int, qty: float) -> str:
        spec = self.specs[j]
        return f"{qty:.{8 if spec.wire_decimals == 8 else spec.qty_decimals}f}"


def aggregate(rows: F64, qty_decimals: int) -> F64:
    """One bar from consecutive 1m rows: first open, max high, min low, last close, summed volumes."""
    if len(rows) == 1:
        single: F64 = rows[0]
        return single
    out = np.empty(_N_FIELDS)
    out[O], out[H], out[L], out[C] = rows[0, O], rows[:, H].max(), rows[:, L].min(), rows[-1, C]
    sums = rows[:, V:].sum(axis=0)
    out[V:] = np.round(sums * np.array([10.0**qty_decimals, 1e8, 1.0, 10.0**qty_decimals, 1e8])) / np.array(
        [10.0**qty_decimals, 1e8, 1.0, 10.0**qty_decimals, 1e8]
    )
    return out
