"""The evaluation report as rich tables (CLI: signals, alerts, signals without an alert) and as Markdown
(docs/signal-quality.md)."""

from __future__ import annotations

from rich.table import Table

from cryptoradar.evaluate.matching import Counts
from cryptoradar.evaluate.runner import EvaluationReport, report_rows

_HEADERS = ("detector", "kind", "signals", "precision", "symbol precision", "labels", "found", "recall")


def _cells(detector: str, kind: str, c: Counts) -> tuple[str, ...]:
    return (
        detector,
        "all kinds" if kind == "*" else kind,
        str(c.signals),
        f"{c.precision:.3f}",
        f"{c.symbol_precision:.3f}",
        str(c.labels),
        str(c.found_labels),
        f"{c.recall:.3f}",
    )


def _title(report: EvaluationReport) -> str:
    seeds = ", ".join(str(s) for s in report.seeds)
    return (
        f"seeds {seeds}: {report.symbols} spot symbols, {report.futures_symbols} perpetuals, "
        f"{report.days:g} day(s) each, {report.elapsed_s:.1f} s"
    )


def _scores(title: str, counts: dict[tuple[str, str], Counts], counted: str) -> Table:
    """`counted`: what the third column counts (signals or alerts)."""
    table = Table(title=title)
    for i, header in enumerate((*_HEADERS[:2], counted, *_HEADERS[3:])):
        table.add_column(header, justify="left" if i < 2 else "right")
    for detector, kind, c in report_rows(counts):
        table.add_row(*_cells(detector, kind, c), style="bold" if kind == "*" else None)
    return table


def render_table(report: EvaluationReport) -> Table:
    """Precision and recall of the signals per detector and kind; the detector totals in bold."""
    return _scores(f"signals: {_title(report)}", report.counts, "signals")


def render_alert_table(report: EvaluationReport) -> Table:
    """The same scores for the alerts the signals became (after dedup, cooldown and routing)."""
    return _scores("alerts (after dedup, cooldown and routing)", report.alert_counts, "alerts")


def render_suppressed_table(report: EvaluationReport) -> Table:
    """Every scored signal without an alert, counted by detector, kind and reason."""
    table = Table(title="signals without an alert, by reason")
    for i, header in enumerate(("detector", "kind", "reason", "signals")):
        table.add_column(header, justify="right" if i == 3 else "left")
    for (detector, kind, reason), count in sorted(report.suppressed.items()):
        table.add_row(detector, kind, reason, str(count))
    return table


def markdown_table(report: EvaluationReport, *, alerts: bool = False) -> str:
    """The same rows as `render_table` (`render_alert_table` with `alerts`), as a Markdown table
    (detector totals in bold)."""
    headers = (*_HEADERS[:2], "alerts", *_HEADERS[3:]) if alerts else _HEADERS
    lines = [f"_{_title(report)}_", "", "| " + " | ".join(headers) + " |", "|" + "---|" * 2 + "---:|" * 6]
    for detector, kind, c in report_rows(report.alert_counts if alerts else report.counts):
        cells = _cells(detector, kind, c)
        if kind == "*":
            cells = tuple(f"**{x}**" for x in cells)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
