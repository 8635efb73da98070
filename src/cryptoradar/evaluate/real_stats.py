"""The statistics of `evaluate --candles`, as pure functions on numpy arrays of one bar series.

Definitions (also in docs/signal-quality.md, "Real candles"):
- bar return r[i] = close[i] / close[i-1] - 1; sigma[i] = the population standard deviation (ddof 0)
  of r[i-N] .. r[i-1], the N bars before i (not i itself: a move must not inflate its own yardstick).
- a significant move is a bar i with |r[i]| >= k * sigma[i] and |r[i]| >= an absolute floor.
- an alert is placed on the bar of the series whose [open, close] holds its `window_end_ms`; it catches
  a move on bar i "within j bars" when it lies on bar i .. i + j and its direction agrees (neutral
  alerts agree with both).
- confidence intervals are the normal approximation of the mean: mean +- 1.96 * sd(ddof 1) / sqrt(n).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "MeanCI",
    "Summary",
    "TradeOutcome",
    "bar_returns",
    "catches",
    "daily_range_pct",
    "mean_ci",
    "rolling_sigma",
    "share_below_sigma",
    "significant_moves",
    "summarise",
    "target_before_stop",
]

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
_Z95 = 1.959963984540054
"""The two-sided 95 % quantile of the standard normal distribution."""


@dataclass(frozen=True, slots=True)
class Summary:
    mean: float
    median: float
    p95: float
    n: int


@dataclass(frozen=True, slots=True)
class MeanCI:
    """A mean with its 95 % normal-approximation interval (nan when n < 2)."""

    mean: float
    low: float
    high: float
    n: int


def summarise(values: Floats | Ints) -> Summary:
    """Mean, median and 95th percentile (linear interpolation, numpy's default); nan for no values."""
    if len(values) == 0:
        return Summary(float("nan"), float("nan"), float("nan"), 0)
    return Summary(
        float(np.mean(values)), float(np.median(values)), float(np.percentile(values, 95)), len(values)
    )


def mean_ci(values: Floats) -> MeanCI:
    n = len(values)
    if n == 0:
        return MeanCI(float("nan"), float("nan"), float("nan"), 0)
    mean = float(np.mean(values))
    if n < 2:
        return MeanCI(mean, float("nan"), float("nan"), 1)
    half = _Z95 * float(np.std(values, ddof=1)) / np.sqrt(n)
    return MeanCI(mean, mean - half, mean + half, n)


def bar_returns(close: Floats) -> Floats:
    """r[0] is nan (no previous close)."""
    out = np.full(len(close), np.nan)
    if len(close) > 1:
        out[1:] = close[1:] / close[:-1] - 1.0
    return out


def rolling_sigma(returns: Floats, window_bars: int) -> Floats:
    """sigma[i] of returns[i - window_bars : i] (ddof 0); nan until a full window of returns exists.
    Direct windows (sliding_window_view), not running sums: exact on near-flat series."""
    out = np.full(len(returns), np.nan)
    if len(returns) <= window_bars:
        return out
    windows = np.lib.stride_tricks.sliding_window_view(returns[:-1], window_bars)
    out[window_bars:] = np.std(windows, axis=1)  # window j holds returns[j : j + N], the bars before j + N
    return out


def significant_moves(returns: Floats, sigma: Floats, k: float, floor: float) -> Ints:
    """Indices of bars with |r| >= k * sigma and |r| >= floor (a fraction: 0.01 is 1 %)."""
    size = np.abs(returns)
    with np.errstate(invalid="ignore"):
        hit = (size >= k * sigma) & (size >= floor) & (sigma > 0)
    return np.flatnonzero(hit).astype(np.int64)


def catches(move_bars: Ints, move_signs: Ints, alert_bars: Ints, alert_signs: Ints, within_bars: int) -> Ints:
    """Per move, the index into the alerts of the first alert (in input order, which is time order)
    on bar move .. move + within_bars with an agreeing sign; -1 when none. Signs are +1, -1 or 0 (any)."""
    out = np.full(len(move_bars), -1, dtype=np.int64)
    if len(alert_bars) == 0:
        return out
    order = np.argsort(alert_bars, kind="stable")
    sorted_bars = alert_bars[order]
    for m, (bar, sign) in enumerate(zip(move_bars.tolist(), move_signs.tolist(), strict=True)):
        lo = int(np.searchsorted(sorted_bars, bar, "left"))
        hi = int(np.searchsorted(sorted_bars, bar + within_bars, "right"))
        for a in order[lo:hi].tolist():
            if alert_signs[a] == 0 or alert_signs[a] == sign:
                out[m] = a if out[m] < 0 else min(out[m], a)
    return out


def share_below_sigma(alert_bars: Ints, returns: Floats, sigma: Floats, below_k: float) -> float:
    """Of the alerts whose bar has a sigma, the share on bars with |r| < below_k * sigma; nan if none."""
    if len(alert_bars) == 0:
        return float("nan")
    s = sigma[alert_bars]
    known = np.isfinite(s) & np.isfinite(returns[alert_bars]) & (s > 0)
    if not known.any():
        return float("nan")
    return float(np.mean(np.abs(returns[alert_bars][known]) < below_k * s[known]))


def daily_range_pct(day: Ints, high: Floats, low: Floats, open_: Floats) -> tuple[Ints, Floats]:
    """Per UTC day present (sorted): (max high - min low) / the day's first open, in percent.
    `day` is the bar's open time // 86_400_000, ascending."""
    days, first = np.unique(day, return_index=True)
    highs = np.maximum.reduceat(high, first)
    lows = np.minimum.reduceat(low, first)
    return days.astype(np.int64), (highs - lows) / open_[first] * 100.0


@dataclass(frozen=True, slots=True)
class TradeOutcome:
    """Counts of setups by which level the price touched first within the horizon."""

    target_first: int
    stop_first: int
    neither: int
    net_wins: int
    """Targets first whose distance pays the fee round trip: |target - entry| / entry > 2 * fee."""

    @property
    def resolved(self) -> int:
        return self.target_first + self.stop_first

    def gross_rate(self) -> float:
        return self.target_first / self.resolved if self.resolved else float("nan")

    def net_rate(self) -> float:
        return self.net_wins / self.resolved if self.resolved else float("nan")


def target_before_stop(
    high: Floats,
    low: Floats,
    setups: list[tuple[int, float, float, float, int]],
    horizon_bars: int,
    fee_per_side: float,
) -> TradeOutcome:
    """`setups`: (first bar after entry, entry, stop, target, +1 long / -1 short). Scans bars
    first .. first + horizon_bars - 1; a bar touching both counts as stop first (it cannot tell
    which came first, and the conservative reading is the honest one). `fee_per_side` is a fraction
    (0.001 = 0.1 % fee plus slippage per side)."""
    target_first = stop_first = neither = net = 0
    for first, entry, stop, target, sign in setups:
        hi, lo = high[first : first + horizon_bars], low[first : first + horizon_bars]
        hit_target = (hi >= target) if sign > 0 else (lo <= target)
        hit_stop = (lo <= stop) if sign > 0 else (hi >= stop)
        t = int(np.argmax(hit_target)) if hit_target.any() else horizon_bars
        s = int(np.argmax(hit_stop)) if hit_stop.any() else horizon_bars
        if t == s == horizon_bars:
            neither += 1
        elif t < s:
            target_first += 1
            net += abs(target - entry) / entry > 2 * fee_per_side
        else:
            stop_first += 1
    return TradeOutcome(target_first, stop_first, neither, net)
