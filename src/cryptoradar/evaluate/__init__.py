"""Signal quality: precision and recall of every detector against the exchange simulator's labelled scenarios.

`evaluate_command(seeds, symbols, days)` runs each seed's scenarios (`feed.ScenarioFeed`) through a
`DetectorSet`, matches signals to labels (`matching`), scores the alerts a real `AlertService` makes of them (`alerts`)
and returns an `EvaluationReport`; `render_table`, `render_alert_table` and `render_suppressed_table`
show it. Definitions and results: docs/signal-quality.md.
"""

from cryptoradar.evaluate.feed import FeedOptions, ScenarioFeed
from cryptoradar.evaluate.matching import LABEL_KINDS, TOLERANCE_MS, Counts, Detection, match
from cryptoradar.evaluate.runner import (
    HELD_OUT_SEEDS,
    TUNING_SEEDS,
    EvaluationReport,
    SeedResult,
    evaluate_command,
    evaluate_seed,
)
from cryptoradar.evaluate.table import (
    markdown_table,
    render_alert_table,
    render_suppressed_table,
    render_table,
)

__all__ = [
    "HELD_OUT_SEEDS",
    "LABEL_KINDS",
    "TOLERANCE_MS",
    "TUNING_SEEDS",
    "Counts",
    "Detection",
    "EvaluationReport",
    "FeedOptions",
    "ScenarioFeed",
    "SeedResult",
    "evaluate_command",
    "evaluate_seed",
    "markdown_table",
    "match",
    "render_alert_table",
    "render_suppressed_table",
    "render_table",
]
