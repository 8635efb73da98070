"""Per-signal outcomes and their aggregation into hit rates with Wilson confidence intervals (pure).

A signal is scored at every horizon the data covers (see `outcomes.py`). At a horizon it is a *hit* when
its direction-signed forward return is > 0 and a *miss* (false positive) when < 0; a return of exactly 0
counts in `n` but in neither. Signals with stop and target are also scored by `first_exit`: the row with
horizon `exit` counts TARGET as hit and STOP as miss over TARGET + STOP + TIMEOUT (DATA_END is unknown and
left out).

Rows are kept per (detector, rule_version, symbol_group, bucket, horizon) and rolled up with `*` for every
group and/or every bucket, so `HitRateTable.lookup` can fall back from the most similar setups to all of a
detector's signals when the specific cell is too small.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence

import msgspec

from cryptoradar.backtest.outcomes import (
    ExitKind,
    ExitOutcome,
    HorizonOutcome,
    PricePath,
    first_exit,
    horizon_outcomes,
)
from cryptoradar.config.detectors import RadarConfig
from cryptoradar.events import Direction, Signal

__all__ = [
    "ALL",
    "EXIT_HORIZON",
    "HitRate",
    "HitRateTable",
    "SignalOutcome",
    "aggregate",
    "evaluate_signal",
    "radar_symbol_group",
    "setup_bucket",
    "wilson_interval",
]

ALL = "*"
EXIT_HORIZON = "exit"
"""The pseudo-horizon of target-versus-stop rows."""
STRENGTH_BANDS = ((8.0, "strength>=8"), (5.0, "strength 5-8"), (-math.inf, "strength<5"))
"""Momentum strength bands, the same limits that map strength to severity."""

SymbolGrouper = Callable[[str], str]


def wilson_interval(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (95 % for z = 1.96); (0, 1) when n is 0."""
    if n <= 0:
        return 0.0, 1.0
    p = hits / n
    z2 = z * z
    denominator = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1.0 - p) / n + z2 / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def radar_symbol_group(config: RadarConfig | None = None) -> SymbolGrouper:
    """The futures radar's symbol groups by name: MAJORS, LARGE_CAP, MID_CAP, OTHER (never `*`, the roll-up)."""
    cfg = config or RadarConfig()
    return lambda symbol: cfg.group_of(symbol)[0].name


def setup_bucket(signal: Signal) -> str:
    """The setup family a signal belongs to: strength band, confluence confidence, else severity."""
    strength = signal.metrics.get("strength")
    if strength is not None and signal.detector == "momentum":
        return next(label for floor, label in STRENGTH_BANDS if strength >= floor)
    confidence = signal.metrics.get("confidence")
    if confidence is not None:
        return f"confidence={int(confidence)}"
    return f"severity={signal.severity.value}"


class SignalOutcome(msgspec.Struct, frozen=True, gc=False):
    """One signal with everything that happened after it.

    `gc=False` (like the outcomes it holds, and events): nothing here can form a reference cycle, and
    one tracked object per outcome set off a collection every few hundred signals while scoring (five
    times as many collections for a year of 1m signals), each walking the young lists of bars.
    """

    signal: Signal
    entry: float
    symbol_group: str
    bucket: str
    horizons: dict[str, HorizonOutcome]
    """Only horizons the data covers."""
    exit: ExitOutcome | None = None
    """Set for signals carrying `metrics["stop"]` and `metrics["target"]`."""


def evaluate_signal(
    signal: Signal,
    path: PricePath | None,
    horizons: Sequence[str],
    max_horizon_ms: int,
    symbol_group: str,
) -> SignalOutcome:
    """Score one signal against the bars of its symbol (`path` None: no price data, no outcomes)."""
    start_ms = signal.window_end_ms
    entry = signal.metrics.get("entry", signal.metrics.get("close"))
    if entry is None and path is not None:
        entry = path.close_at_or_before(start_ms)
    entry = entry if entry is not None else math.nan
    scored: dict[str, HorizonOutcome] = {}
    exit_outcome = None
    if path is not None and entry == entry:
        scored = horizon_outcomes(path, entry, signal.direction, start_ms, horizons)
        stop, target = signal.metrics.get("stop"), signal.metrics.get("target")
        if stop is not None and target is not None:
            exit_outcome = first_exit(path, signal.direction, stop, target, start_ms, max_horizon_ms)
    return SignalOutcome(signal, entry, symbol_group, setup_bucket(signal), scored, exit_outcome)


class HitRate(msgspec.Struct, frozen=True):
    detector: str
    rule_version: int
    symbol_group: str
    bucket: str
    horizon: str
    n: int
    hits: int
    misses: int
    ci_low: float
    ci_high: float
    mean_return_pct: float | None
    """Mean signed forward return (None for the `exit` rows)."""

    @property
    def rate(self) -> float:
        return self.hits / self.n if self.n else 0.0

    @property
    def false_positive_rate(self) -> float:
        return self.misses / self.n if self.n else 0.0


class _Tally:
    __slots__ = ("hits", "misses", "n", "return_sum")

    def __init__(self) -> None:
        self.n = self.hits = self.misses = 0
        self.return_sum = 0.0

    def add(self, hit: bool, miss: bool, return_pct: float) -> None:
        self.n += 1
        self.hits += hit
        self.misses += miss
        self.return_sum += return_pct


def aggregate(outcomes: Iterable[SignalOutcome]) -> list[HitRate]:
    """Hit rates per (detector, rule version, group, bucket, horizon) with `*` roll-ups, sorted."""
    tallies: dict[tuple[str, int, str, str, str], _Tally] = defaultdict(_Tally)
    for o in outcomes:
        s = o.signal
        if s.direction is Direction.NEUTRAL:
            continue
        cells = {(g, b) for g in (o.symbol_group, ALL) for b in (o.bucket, ALL)}
        for h, ho in o.horizons.items():
            for g, b in cells:
                tallies[(s.detector, s.rule_version, g, b, h)].add(ho.hit, ho.miss, ho.return_pct)
        if o.exit is not None and o.exit.kind is not ExitKind.DATA_END:
            hit, miss = o.exit.kind is ExitKind.TARGET, o.exit.kind is ExitKind.STOP
            for g, b in cells:
                tallies[(s.detector, s.rule_version, g, b, EXIT_HORIZON)].add(hit, miss, 0.0)
    rows = []
    for (detector, version, group, bucket, horizon), t in sorted(tallies.items()):
        low, high = wilson_interval(t.hits, t.n)
        mean = None if horizon == EXIT_HORIZON else t.return_sum / t.n
        rows.append(
            HitRate(detector, version, group, bucket, horizon, t.n, t.hits, t.misses, low, high, mean)
        )
    return rows


class HitRateTable:
    """In-memory look-up of hit rates for alert enrichment ("hit rate of similar setups"); synchronous.

    `lookup` returns the most specific row with at least `min_count` signals, trying (group, bucket),
    (*, bucket), (group, *), then (*, *); None when even the roll-up is too small.
    """

    __slots__ = ("_grouper", "_min_count", "_rows")

    def __init__(self, rows: Iterable[HitRate], grouper: SymbolGrouper, min_count: int = 20) -> None:
        self._rows = {(r.detector, r.rule_version, r.symbol_group, r.bucket, r.horizon): r for r in rows}
        self._grouper = grouper
        self._min_count = min_count

    def lookup(self, signal: Signal, horizon: str) -> HitRate | None:
        group, bucket = self._grouper(signal.symbol), setup_bucket(signal)
        for g, b in ((group, bucket), (ALL, bucket), (group, ALL), (ALL, ALL)):
            row = self._rows.get((signal.detector, signal.rule_version, g, b, horizon))
            if row is not None and row.n >= self._min_count:
                return row
        return None

    def context_line(self, signal: Signal, horizon: str) -> str:
        """`Hit rate of similar setups (1h): 58% [51-65%] n=180`, or `n/a` without enough history."""
        row = self.lookup(signal, horizon)
        if row is None:
            return f"Hit rate of similar setups ({horizon}): n/a"
        return (
            f"Hit rate of similar setups ({horizon}): {row.rate:.0%} "
            f"[{row.ci_low:.0%}-{row.ci_high:.0%}] n={row.n}"
        )
