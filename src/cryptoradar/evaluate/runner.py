"""`evaluate_command`: the simulator's labelled scenarios through the detectors, scored per seed and overall.

Each seed is one independent `ScenarioFeed` run through a fresh `DetectorSet`; seeds run in parallel
processes when `workers > 1` (results do not depend on it). Signals count when their window ends inside
the scored period [start_ms, end_ms]; signals from the warm-up before it are the detectors settling and
count nowhere.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from cryptoradar.config.detectors import DetectorsConfig
from cryptoradar.detectors import DetectorSet
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
        total: dict[tuple[str, str], Counts] = {}
        for result in self.per_seed:
            for key, c in result.counts.items():
                total[key] = total.get(key, Counts()) + c
        return total

    def detector(self, name: str, kind: str = "*") -> Counts:
        """Counts of one detector (`kind="*"`) or one of its signal kinds, over every seed."""
        return self.counts.get((name, kind), Counts())


def evaluate_seed(opts: FeedOptions, config: DetectorsConfig) -> SeedResult:
    """One seeded simulator run through a fresh `DetectorSet`, matched against its labels."""
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
    )


def evaluate_command(
    seeds: Sequence[int],
    symbols: int = 300,
    days: float = 1.0,
    futures_symbols: int = 50,
    config: DetectorsConfig | None = None,
    workers: int = 1,
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
            results = list(pool.map(evaluate_seed, options, [cfg] * len(options)))
    else:
        results = [evaluate_seed(o, cfg) for o in options]
    return EvaluationReport(
        seeds=tuple(seeds),
        symbols=symbols,
        futures_symbols=futures_symbols,
        days=days,
        per_seed=tuple(results),
        elapsed_s=time.perf_counter() - started,
    )


def report_rows(report: EvaluationReport) -> list[tuple[str, str, Counts]]:
    """(detector, kind, counts) in display order: each detector's kinds, then its total (kind "*")."""
    counts = report.counts
    return [
        (detector, kind, counts.get((detector, kind), Counts()))
        for detector, kinds in DETECTOR_KINDS.items()
        for kind in (*kinds, "*")
    ]
