"""Parameter sweeps: one detector's thresholds over a small grid, each point a full backtest replay.

Each grid point is the base section with the point's fields replaced and re-validated
(`model_validate` on the merged values, so an impossible point such as `ema_fast_period >= ema_slow_period`
fails loudly instead of running). Only the swept detector is enabled. Events are loaded and merged once
(`runner.prepare`) and replayed through a fresh `DetectorSet` per point: the same live code path as a
single backtest. A point reports its signal count, and at `horizon`: scored signals, hit rate (signed
return > 0), false-positive rate (signed return < 0) and the Wilson interval of the hit rate.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from cryptoradar.backtest.inputs import BacktestInput
from cryptoradar.backtest.runner import BacktestOptions, Prepared, prepare, replay_through_engine, score
from cryptoradar.backtest.stats import ALL, aggregate
from cryptoradar.config.base import Section
from cryptoradar.config.detectors import DetectorsConfig

__all__ = ["SweepDetector", "SweepPoint", "grid_points", "sweep", "sweep_prepared"]

SweepValue = float | int | str | bool


class SweepDetector(StrEnum):
    MOMENTUM = "momentum"
    CONFLUENCE = "confluence"
    RADAR = "radar"


@dataclass(frozen=True, slots=True)
class SweepPoint:
    params: tuple[tuple[str, SweepValue], ...]
    signals: int
    scored: int
    hit_rate: float
    false_positive_rate: float
    ci_low: float
    ci_high: float


def grid_points(grid: Mapping[str, Sequence[SweepValue]]) -> list[dict[str, SweepValue]]:
    """The Cartesian product of the grid, in the grid's key order (last key varies fastest)."""
    keys = list(grid)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*(grid[k] for k in keys))]


def _config_for(
    base: DetectorsConfig, detector: SweepDetector, point: Mapping[str, SweepValue]
) -> DetectorsConfig:
    sections: dict[str, Section] = {}
    for name in SweepDetector:
        section: Section = getattr(base, name.value)
        if name is detector:
            unknown = set(point) - set(type(section).model_fields)
            if unknown:
                raise ValueError(f"sweep: {sorted(unknown)} are not fields of detectors.{name.value}")
            sections[name.value] = type(section).model_validate(
                {**section.model_dump(), **point, "enabled": True}
            )
        else:
            sections[name.value] = section.model_copy(update={"enabled": False})
    return base.model_copy(update=sections)


def sweep_prepared(
    prepared: Prepared,
    options: BacktestOptions,
    detector: SweepDetector,
    grid: Mapping[str, Sequence[SweepValue]],
    horizon: str,
) -> list[SweepPoint]:
    """Run every grid point over already prepared events (see module docstring)."""
    if horizon not in options.horizons:
        options = dataclasses.replace(options, horizons=(*options.horizons, horizon))
    points: list[SweepPoint] = []
    for point in grid_points(grid):
        config = _config_for(options.detectors, detector, point)
        signals, _, _ = replay_through_engine(prepared.events, config)
        rows = [
            r
            for r in aggregate(score(signals, prepared.paths, options))
            if r.symbol_group == ALL and r.bucket == ALL and r.horizon == horizon
        ]
        row = rows[0] if rows else None
        points.append(
            SweepPoint(
                params=tuple(point.items()),
                signals=len(signals),
                scored=row.n if row else 0,
                hit_rate=row.rate if row else 0.0,
                false_positive_rate=row.false_positive_rate if row else 0.0,
                ci_low=row.ci_low if row else 0.0,
                ci_high=row.ci_high if row else 1.0,
            )
        )
    return points


def sweep(
    inputs: Sequence[BacktestInput],
    options: BacktestOptions,
    detector: SweepDetector,
    grid: Mapping[str, Sequence[SweepValue]],
    horizon: str = "1h",
) -> list[SweepPoint]:
    """Load `inputs` once and run every grid point of `detector`'s section."""
    return sweep_prepared(prepare(inputs, options), options, detector, grid, horizon)
