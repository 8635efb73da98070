"""Signal quality on real candles, per detector and symbol (`evaluate --candles`).

Assembles the statistics of `real_stats` from a `CandleEvaluation`: alerts per symbol-day (all days
and quiet days), recall of significant moves, the share of alerts on ordinary bars, the delay from the
start of a move, forward returns against a random-entry baseline, and, for confluence, target before
stop gross and net of fees. Only signals, moves and days inside the scoring window count; the replay
runs over all the data so indicators are warm when the window opens. Definitions: docs/signal-quality.md.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from rich.table import Table

from cryptoradar.evaluate.candles import CandleEvaluation, Series
from cryptoradar.evaluate.real_stats import (
    MeanCI,
    Summary,
    TradeOutcome,
    bar_returns,
    catches,
    daily_range_pct,
    mean_ci,
    rolling_sigma,
    share_below_sigma,
    significant_moves,
    summarise,
    target_before_stop,
)
from cryptoradar.events import Direction, Market, Signal

__all__ = ["RealOptions", "RealReport", "Row", "real_options", "real_report", "render_real_tables"]

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
_SIGN = {Direction.BULLISH: 1, Direction.BEARISH: -1, Direction.NEUTRAL: 0}
FORWARD_HORIZONS_MS = {"15m": 15 * 60_000, "1h": HOUR_MS, "4h": 4 * HOUR_MS}


@dataclass(frozen=True, slots=True)
class RealOptions:
    start_ms: int = 0
    end_ms: int = 2**62
    """Scoring window [start, end): signals by bar close, moves and days by bar open."""
    sigma_window_bars: int = 96
    ks: tuple[float, ...] = (5.0, 3.0)
    floor_pct: float = 1.0
    """Absolute floor of a significant move, in percent of the previous close."""
    quiet_range_pct: float = 2.0
    below_k: float = 2.0
    fee_pct: float = 0.1
    """Fee plus slippage per side, in percent."""
    trade_horizon_ms: int = DAY_MS
    baseline_per_alert: int = 20
    seed: int = 0


@dataclass(slots=True)
class Row:
    detector: str
    symbol: str
    timeframe: str
    """The detector's bar timeframe: the series moves and sigma are measured on."""
    signals: int
    per_day: Summary
    quiet_per_day: Summary
    """Over quiet days only (daily high-low range under quiet_range_pct of the day's open)."""
    recall: dict[str, tuple[int, int]] = field(default_factory=dict)
    """"k5 within 0" -> (moves caught, moves)."""
    below_sigma_share: float = float("nan")
    delay_min: Summary = field(default_factory=lambda: summarise(np.zeros(0)))
    """Minutes from the open of the move's bar to its first catching alert's close (lowest k, within 1)."""
    forward_pct: dict[str, tuple[MeanCI, MeanCI]] = field(default_factory=dict)
    """Horizon -> (alerts, random entries), returns in percent signed by the alert's direction."""
    trades: TradeOutcome | None = None


@dataclass(frozen=True, slots=True)
class RealReport:
    options: RealOptions
    rows: list[Row]

    def to_json(self) -> dict[str, Any]:
        rows = []
        for row in self.rows:
            d = asdict(row)
            d["trades"] = (
                None
                if row.trades is None
                else {**asdict(row.trades), "gross_rate": row.trades.gross_rate(),
                      "net_rate": row.trades.net_rate()}
            )  # fmt: skip
            rows.append(d)
        finite: dict[str, Any] = _finite({"options": asdict(self.options), "rows": rows})
        return finite


def _finite(value: Any) -> Any:
    """JSON has no nan: an undefined statistic (no alerts, no moves) is null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def real_options(score_from: str | None, score_to: str | None, fee_pct: float) -> RealOptions:
    """Options from the command line; ValueError (one line) for a bad date or fee."""

    def ms(day: str | None, default: int, flag: str) -> int:
        if day is None:
            return default
        try:
            return int(datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC).timestamp() * 1000)
        except ValueError:
            raise ValueError(f"{flag} {day}: use a UTC date as YYYY-MM-DD") from None

    if not 0 <= fee_pct < 50:
        raise ValueError(f"--fee-pct {fee_pct}: use a percent per side, e.g. 0.1")
    defaults = RealOptions()
    return RealOptions(
        start_ms=ms(score_from, defaults.start_ms, "--score-from"),
        end_ms=ms(score_to, defaults.end_ms, "--score-to"),
        fee_pct=fee_pct,
    )


def _market(evaluation: CandleEvaluation, detector: str) -> Market:
    return evaluation.markets.get(detector, Market.SPOT)


def real_report(evaluation: CandleEvaluation, options: RealOptions) -> RealReport:
    rng = np.random.default_rng(options.seed)
    by_key: dict[tuple[str, str], list[Signal]] = {}
    for s in evaluation.signals:
        if options.start_ms <= s.window_end_ms < options.end_ms:
            by_key.setdefault((s.detector, s.symbol), []).append(s)
    rows = []
    symbols = sorted({symbol for (_, symbol, _) in evaluation.series})
    for detector in evaluation.detectors:
        market, timeframe = _market(evaluation, detector), evaluation.timeframes_of.get(detector, "")
        for symbol in symbols:
            finest = evaluation.finest(market, symbol)
            if finest is None:
                continue
            signals = by_key.get((detector, symbol), [])
            rows.append(
                _row(detector, symbol, timeframe, signals, finest,
                     evaluation.series.get((market, symbol, timeframe)), options, rng)
            )  # fmt: skip
    return RealReport(options, rows)


def _row(
    detector: str,
    symbol: str,
    timeframe: str,
    signals: list[Signal],
    finest: Series,
    series: Series | None,
    options: RealOptions,
    rng: np.random.Generator,
) -> Row:
    ends = np.array([s.window_end_ms for s in signals], dtype=np.int64)
    signs = np.array([_SIGN[s.direction] for s in signals], dtype=np.int64)
    in_window = (finest.open_ms >= options.start_ms) & (finest.open_ms < options.end_ms)
    day = finest.open_ms[in_window] // DAY_MS
    days, range_pct = daily_range_pct(
        day, finest.high[in_window], finest.low[in_window], finest.open[in_window]
    )
    per_day = np.zeros(len(days), dtype=np.int64)
    if len(ends) and len(days):
        idx = np.searchsorted(days, ends // DAY_MS)
        ok = (idx < len(days)) & (days[np.minimum(idx, len(days) - 1)] == ends // DAY_MS)
        np.add.at(per_day, idx[ok], 1)
    row = Row(
        detector, symbol, timeframe, len(signals), summarise(per_day),
        summarise(per_day[range_pct < options.quiet_range_pct]),
    )  # fmt: skip
    if series is not None and len(series.close) > options.sigma_window_bars:
        _moves(row, series, ends, signs, options)
    _forward(row, finest, ends, signs, in_window, options, rng)
    if any("target" in s.metrics and "stop" in s.metrics for s in signals):
        row.trades = _trades(finest, signals, options)
    return row


def _moves(row: Row, series: Series, ends: Any, signs: Any, options: RealOptions) -> None:
    returns = bar_returns(series.close)
    sigma = rolling_sigma(returns, options.sigma_window_bars)
    alert_bars = np.searchsorted(series.open_ms, ends, "right").astype(np.int64) - 1
    placed = alert_bars >= 0
    alert_bars, alert_signs, alert_ends = alert_bars[placed], signs[placed], ends[placed]
    row.below_sigma_share = share_below_sigma(alert_bars, returns, sigma, options.below_k)
    for k in options.ks:
        moves = significant_moves(returns, sigma, k, options.floor_pct / 100)
        moves = moves[(series.open_ms[moves] >= options.start_ms) & (series.open_ms[moves] < options.end_ms)]
        move_signs = np.sign(returns[moves]).astype(np.int64)
        for within in (0, 1):
            caught = catches(moves, move_signs, alert_bars, alert_signs, within)
            row.recall[f"k{k:g} within {within}"] = (int(np.sum(caught >= 0)), len(moves))
        hit = caught >= 0  # within 1 bar, the last k (the lowest): the most moves to time
        delay = (alert_ends[caught[hit]] + 1 - series.open_ms[moves[hit]]) / 60_000
        row.delay_min = summarise(delay.astype(np.float64))


def _forward(
    row: Row, finest: Series, ends: Any, signs: Any, in_window: Any, options: RealOptions,
    rng: np.random.Generator,
) -> None:  # fmt: skip
    """Entry at the close of the finest bar closing at or before the alert's close; exit at the close of
    the finest bar closing at or before entry + horizon. Baseline: for each alert, `baseline_per_alert`
    random finest bars of the window closing in the same UTC hour of day, signed by the alert."""
    directed = signs != 0
    ends, signs = ends[directed], signs[directed]
    candidates = np.flatnonzero(in_window)
    hours = (finest.close_ms[candidates] // HOUR_MS) % 24
    by_hour = [candidates[hours == h] for h in range(24)]
    base_entries: list[Any] = []
    base_signs: list[Any] = []
    for end, sign in zip(ends.tolist(), signs.tolist(), strict=True):
        pool = by_hour[(end // HOUR_MS) % 24]
        if len(pool):
            base_entries.append(rng.choice(pool, options.baseline_per_alert))
            base_signs.append(np.full(options.baseline_per_alert, sign))
    entries = np.searchsorted(finest.close_ms, ends, "right") - 1
    keep = entries >= 0
    entries, signs = entries[keep], signs[keep]
    b_entries = np.concatenate(base_entries) if base_entries else np.zeros(0, dtype=np.int64)
    b_signs = np.concatenate(base_signs) if base_signs else np.zeros(0, dtype=np.int64)
    for name, horizon_ms in FORWARD_HORIZONS_MS.items():
        row.forward_pct[name] = (
            mean_ci(_signed_return(finest, entries, signs, horizon_ms)),
            mean_ci(_signed_return(finest, b_entries, b_signs, horizon_ms)),
        )


def _signed_return(finest: Series, entries: Any, signs: Any, horizon_ms: int) -> Any:
    exit_at = finest.close_ms[entries] + horizon_ms
    exits = np.searchsorted(finest.close_ms, exit_at, "right") - 1
    valid = (exits > entries) & (exit_at <= finest.close_ms[-1])
    e, x = entries[valid], exits[valid]
    return (finest.close[x] / finest.close[e] - 1.0) * signs[valid] * 100.0


def _trades(finest: Series, signals: list[Signal], options: RealOptions) -> TradeOutcome:
    step_ms = int(finest.close_ms[0] - finest.open_ms[0] + 1)
    setups = []
    for s in signals:
        m, sign = s.metrics, _SIGN[s.direction]
        if sign == 0 or not {"entry", "stop", "target"} <= m.keys():
            continue
        first = int(np.searchsorted(finest.open_ms, s.window_end_ms, "right"))
        setups.append((first, m["entry"], m["stop"], m["target"], sign))
    return target_before_stop(
        finest.high, finest.low, setups, max(1, options.trade_horizon_ms // step_ms), options.fee_pct / 100
    )


def _f(value: float, fmt: str = ".2f") -> str:
    return "-" if value != value else format(value, fmt)  # nan shows as "-"


def _ci(ci: MeanCI) -> str:
    return "-" if ci.n == 0 else f"{ci.mean:+.3f} [{_f(ci.low, '+.3f')}, {_f(ci.high, '+.3f')}] n={ci.n}"


def render_real_tables(report: RealReport) -> list[Table]:
    """Activity and recall, forward returns, and confluence trades (when any detector has setups)."""
    o = report.options
    activity = Table(title=f"real candles: alerts per symbol-day and recall of significant moves "
                     f"(|r| >= k sigma of the previous {o.sigma_window_bars} bars and >= {o.floor_pct:g} %)")  # fmt: skip
    heads = ["detector", "symbol", "tf", "alerts", "per day mean/med/p95", "quiet days mean/med (n)"]
    keys = [f"k{k:g} within {w}" for k in o.ks for w in (0, 1)]
    heads += [f"recall {k}" for k in keys] + [f"< {o.below_k:g} sigma", "delay min med/p95"]
    for i, h in enumerate(heads):
        activity.add_column(h, justify="left" if i < 3 else "right")
    forward = Table(title="forward returns % signed by the alert, 95 % CI (normal approx.) vs random entries "
                    "on the same symbol and UTC hour")  # fmt: skip
    horizons = [f"{n} {who}" for n in FORWARD_HORIZONS_MS for who in ("alerts", "random")]
    for i, h in enumerate(["detector", "symbol", *horizons]):
        forward.add_column(h, justify="left" if i < 2 else "right")
    trades = Table(title=f"target before stop (within {o.trade_horizon_ms // HOUR_MS} h; a bar touching both "
                   f"counts as stop), net of {o.fee_pct:g} % per side")  # fmt: skip
    for i, h in enumerate(["detector", "symbol", "target first", "stop first", "neither", "gross", "net"]):
        trades.add_column(h, justify="left" if i < 2 else "right")
    for r in report.rows:
        recall = [f"{c / n:.2f} ({c}/{n})" if n else "-" for c, n in (r.recall.get(k, (0, 0)) for k in keys)]
        activity.add_row(
            r.detector, r.symbol, r.timeframe, str(r.signals),
            f"{_f(r.per_day.mean)}/{_f(r.per_day.median, 'g')}/{_f(r.per_day.p95)}",
            f"{_f(r.quiet_per_day.mean)}/{_f(r.quiet_per_day.median, 'g')} ({r.quiet_per_day.n})",
            *recall, _f(r.below_sigma_share), f"{_f(r.delay_min.median, 'g')}/{_f(r.delay_min.p95, 'g')}",
        )  # fmt: skip
        if r.signals:
            forward.add_row(
                r.detector, r.symbol,
                *(_ci(ci) for pair in r.forward_pct.values() for ci in pair),
            )  # fmt: skip
        if r.trades is not None:
            t = r.trades
            trades.add_row(
                r.detector, r.symbol, str(t.target_first), str(t.stop_first), str(t.neither),
                _f(t.gross_rate()), _f(t.net_rate()),
            )  # fmt: skip
    return [activity, forward] + ([trades] if trades.row_count else [])
