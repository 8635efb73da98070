"""`evaluate_command`: the simulator's labelled scenarios through the detectors, scored per seed and overall.

Each seed is one independent `ScenarioFeed` run through a fresh `DetectorSet`; seeds run in parallel
processes when `workers > 1` (results do not depend on it). Signals count when their window ends inside
the scored period [start_ms, end_ms]; signals from the warm-up before it are the detectors settling and
count nowhere. The scored signals then go through a real `AlertService` (`evaluate.alerts`), and the
alerts it makes are scored the same way, so what dedup, cooldown and routing hold back shows.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from cryptoradar.config.alerts import AlertsConfig
from cryptoradar.config.detectors import DetectorsConfig
from cryptoradar.detectors import DetectorSet
from cryptoradar.evaluate.alerts import SuppressedKey, admit_signals
from cryptoradar.evaluate.feed import FeedOptions, ScenarioFeed
from cryptoradar.evaluate.matching import DETECTOR_KINDS, Counts, Detection, match
from cryptoradar.events import Signal
from cryptoradar.sim.scenarios import Label

TUNING_SEEDS = (1, 2, 3)
"""The seeds the scenario definitions and thresholds were tuned on (docs/signal-quality.md)."""
HELD_OUT_SEEDS = (11, 12)
"""Seeds never looked at while tuning: the acceptance test runs these."""


@dataclass(frozen=True, slots=True)
class SeedResult:
    """One seed's scores and what went wrong (false positives, missed labels)."""

    seed: int
    start_ms: int
    end_ms: int
    events: int
    labels: int
    signals: int
    counts: dict[tuple[str, str], Counts]
    false_positives: tuple[Detection, ...]
    missed: tuple[tuple[str, Label], ...]
    elapsed_s: float
    alert_counts: dict[tuple[str, str], Counts]
    """Like `counts`, for the signals that became alerts."""
    suppressed: Counter[SuppressedKey]
    """The scored signals without an alert, by (detector, kind, reason)."""


@dataclass(frozen=True, slots=True)
class EvaluationReport:
    """All seeds of one evaluation; `counts` adds the seeds' raw counts (not their ratios)."""

    seeds: tuple[int, ...]
    symbols: int
    futures_symbols: int
    days: float
    per_seed: tuple[SeedResult, ...]
    elapsed_s: float

    @property
    def counts(self) -> dict[tuple[str, str], Counts]:
        return _total(r.counts for r in self.per_seed)

    @property
    def alert_counts(self) -> dict[tuple[str, str], Counts]:
        return _total(r.alert_counts for r in self.per_seed)

    @property
    def suppressed(self) -> Counter[SuppressedKey]:
        return sum((r.suppressed for r in self.per_seed), Counter[SuppressedKey]())

    def detector(self, name: str, kind: str = "*") -> Counts:
        """Counts of one detector (`kind="*"`) or one of its signal kinds, over every seed."""
        return self.counts.get((name, kind), Counts())


def _total(per_seed: Iterable[dict[tuple[str, str], Counts]]) -> dict[tuple[str, str], Counts]:
    total: dict[tuple[str, str], Counts] = {}
    for counts in per_seed:
        for key, c in counts.items():
            total[key] = total.get(key, Counts()) + c
    return total


def evaluate_seed(
    opts: FeedOptions, config: DetectorsConfig, alerts: AlertsConfig | None = None
) -> SeedResult:
    """One seeded simulator run through a fresh `DetectorSet`, matched against its labels; then its
    scored signals through a fresh `AlertService` (`alerts`, default: the default alert settings)."""
    started = time.perf_counter()
    feed = ScenarioFeed(opts)
    engine = DetectorSet(config)
    signals: list[Signal] = []
    events = 0
    for event in feed.events():
        events += 1
        out = engine.on_event(event)
        if out:
            signals += out
    signals += engine.flush()
    scored = [s for s in signals if feed.start_ms <= s.window_end_ms <= feed.end_ms]
    result = match(scored, feed.labels)
    outcome = admit_signals(scored, alerts if alerts is not None else AlertsConfig())
    return SeedResult(
        seed=opts.seed,
        start_ms=feed.start_ms,
        end_ms=feed.end_ms,
        events=events,
        labels=len(feed.labels),
        signals=len(scored),
        counts=result.counts,
        false_positives=result.false_positives,
        missed=result.missed,
        elapsed_s=time.perf_counter() - started,
        alert_counts=match(outcome.alerted, feed.labels).counts,
        suppressed=outcome.suppressed,
    )


def evaluate_command(
    seeds: Sequence[int],
    symbols: int = 300,
    days: float = 1.0,
    futures_symbols: int = 50,
    config: DetectorsConfig | None = None,
    workers: int = 1,
    alerts: AlertsConfig | None = None,
) -> EvaluationReport:
    """Runs every seed (`workers` processes at most) and collects the scores; see docs/signal-quality.md."""
    if not seeds:
        raise ValueError("evaluate needs at least one seed")
    started = time.perf_counter()
    cfg = config if config is not None else DetectorsConfig()
    options = [
        FeedOptions(seed=s, symbols=symbols, days=days, futures_symbols=futures_symbols) for s in seeds
    ]
    if workers > 1 and len(options) > 1:
        with ProcessPoolExecutor(max_workers=min(workers, len(options))) as pool:
            results = list(pool.map(evaluate_seed, options, [cfg] * len(options), [alerts] * len(options)))
    else:
        results = [evaluate_seed(o, cfg, alerts) for o in options]
    return EvaluationReport(
        seeds=tuple(seeds),
        symbols=symbols,
        futures_symbols=futures_symbols,
        days=days,
        per_seed=tuple(results),
        elapsed_s=time.perf_counter() - started,
    )


def report_rows(counts: dict[tuple[str, str], Counts]) -> list[tuple[str, str, Counts]]:
    """(detector, kind, counts) in display order: each detector's kinds, then its total (kind "*")."""
    return [
        (detector, kind, counts.get((detector, kind), Counts()))
        for detector, kinds in DETECTOR_KINDS.items()
        for kind in (*kinds, "*")
    ]
