"""The backtest report: one self-contained HTML file plus CSV and JSON of every signal with its outcome.

Files written into the output folder:

- `report.html`: offline (no CDN, no script execution): summary per detector, hit-rate tables with
  Wilson intervals, outcome histograms and one price chart per symbol with signal markers, all inline SVG.
  A `<script type="application/json" id="summary">` block carries the headline numbers for tools;
- `signals.csv`: one row per signal, flat (entry, stop, target, per-horizon return/MFE/MAE, exit);
- `signals.json`: every `SignalOutcome` (the full `Signal` included);
- `hit_rates.json`: every `HitRate` row.
"""

from __future__ import annotations

import csv
import webbrowser
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import jinja2
import msgspec
from markupsafe import Markup

from cryptoradar.backtest import svg
from cryptoradar.backtest.runner import BacktestResult
from cryptoradar.backtest.stats import ALL, EXIT_HORIZON, HitRate, SignalOutcome
from cryptoradar.events import Direction

__all__ = ["ReportFiles", "ReportSummary", "open_in_browser", "write_report"]


@dataclass(frozen=True, slots=True)
class ReportFiles:
    html: Path
    signals_csv: Path
    signals_json: Path
    hit_rates_json: Path


class ReportSummary(msgspec.Struct, frozen=True):
    """The headline numbers, embedded in the HTML as JSON."""

    events: int
    bars: int
    signals: int
    signals_by_detector: dict[str, int]
    signals_by_symbol: dict[str, int]
    horizons: tuple[str, ...]
    bars_per_s: float


_TEMPLATE = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1f2328}
table{border-collapse:collapse;margin:8px 0 20px}td,th{border:1px solid #d0d7de;padding:3px 8px;text-align:right}
th{background:#f6f8fa}td.l,th.l{text-align:left}.charts{display:flex;flex-wrap:wrap;gap:12px}
small{color:#57606a}
</style>
<script type="application/json" id="summary">{{ summary_json }}</script>
</head><body>
<h1>{{ title }}</h1>
<p>{{ summary.events }} events ({{ summary.bars }} bars) replayed through the live detectors,
<strong id="signal-count">{{ summary.signals }}</strong> signals,
{{ "%.0f"|format(summary.bars_per_s) }} bars/s. Horizons: {{ summary.horizons|join(", ") }}.</p>
<h2>Summary per detector</h2>
<table><tr><th class="l">detector</th><th>rule</th><th>signals</th>
{% for h in horizons %}<th>hit rate {{ h }}</th><th>mean return {{ h }}</th>{% endfor %}
<th>target first</th></tr>
{% for row in detector_rows %}<tr><td class="l">{{ row.detector }}</td><td>{{ row.rule_version }}</td>
<td>{{ row.signals }}</td>
{% for cell in row.cells %}<td>{{ cell.rate }}</td><td>{{ cell.mean }}</td>{% endfor %}
<td>{{ row.exit }}</td></tr>{% endfor %}
</table>
<h2>Outcome distributions</h2>
{% for block in distributions %}<h3>{{ block.title }}</h3><div class="charts">
{% for chart in block.charts %}{{ chart }}{% endfor %}</div>{% endfor %}
<h2>Prices and signals</h2>
{% for chart in price_charts %}<h3>{{ chart.title }}</h3><div>{{ chart.svg }}</div>{% endfor %}
<h2>Hit rates by symbol group and setup</h2>
<table><tr><th class="l">detector</th><th>rule</th><th class="l">group</th><th class="l">setup</th>
<th class="l">horizon</th><th>n</th><th>hits</th><th>misses</th><th>rate [95% CI]</th><th>mean return %</th></tr>
{% for r in hit_rates %}<tr><td class="l">{{ r.detector }}</td><td>{{ r.rule_version }}</td>
<td class="l">{{ r.symbol_group }}</td><td class="l">{{ r.bucket }}</td><td class="l">{{ r.horizon }}</td>
<td>{{ r.n }}</td><td>{{ r.hits }}</td><td>{{ r.misses }}</td>
<td>{{ "%.1f"|format(r.rate * 100) }}% [{{ "%.1f"|format(r.ci_low * 100) }}-{{ "%.1f"|format(r.ci_high * 100) }}]</td>
<td>{{ "" if r.mean_return_pct is none else "%.3f"|format(r.mean_return_pct) }}</td></tr>{% endfor %}
</table>
<h2>Inputs</h2>
<table><tr><th class="l">input</th><th>events</th><th>missing</th><th>out of order</th><th>bad rows</th>
<th class="l">note</th></tr>
{% for s in streams %}<tr><td class="l">{{ s.name }}</td><td>{{ s.events }}</td><td>{{ s.missing }}</td>
<td>{{ s.out_of_order }}</td><td>{{ s.bad_rows }}</td><td class="l">{{ s.note }}</td></tr>{% endfor %}
</table>
{% for line in timeframe_notes %}<p class="timeframes">{{ line }}</p>{% endfor %}
<p><small>Hit: direction-signed forward return &gt; 0 at the horizon, from the signal bar's close.
Target first: target touched before stop (a bar touching both counts as stop). See docs/backtest.md.</small></p>
</body></html>
"""
)


def _pct(rate: HitRate | None) -> str:
    if rate is None or rate.n == 0:
        return "-"
    return f"{rate.rate:.0%} (n={rate.n})"


def _detector_rows(result: BacktestResult) -> list[dict[str, object]]:
    counts = Counter((s.detector, s.rule_version) for s in result.signals)
    overall = {
        (r.detector, r.rule_version, r.horizon): r
        for r in result.hit_rates
        if r.symbol_group == ALL and r.bucket == ALL
    }
    rows: list[dict[str, object]] = []
    for (detector, version), n in sorted(counts.items()):
        cells = []
        for h in result.horizons:
            r = overall.get((detector, version, h))
            mean = "-" if r is None or r.mean_return_pct is None else f"{r.mean_return_pct:+.3f}%"
            cells.append({"rate": _pct(r), "mean": mean})
        exit_rate = overall.get((detector, version, EXIT_HORIZON))
        rows.append(
            {
                "detector": detector,
                "rule_version": version,
                "signals": n,
                "cells": cells,
                "exit": _pct(exit_rate),
            }
        )
    return rows


def _distributions(result: BacktestResult) -> list[dict[str, object]]:
    by_detector: dict[str, list[SignalOutcome]] = defaultdict(list)
    for o in result.outcomes:
        by_detector[o.signal.detector].append(o)
    blocks: list[dict[str, object]] = []
    for detector, outcomes in sorted(by_detector.items()):
        charts = []
        for h in result.horizons:
            scored = [o.horizons[h] for o in outcomes if h in o.horizons]
            charts.append(svg.histogram([x.return_pct for x in scored], f"return % at {h}"))
            charts.append(svg.histogram([x.mfe_pct for x in scored], f"MFE % over {h}"))
            charts.append(svg.histogram([x.mae_pct for x in scored], f"MAE % over {h}", adverse=True))
        blocks.append({"title": detector, "charts": [Markup(c) for c in charts]})
    return blocks


def _price_charts(result: BacktestResult) -> list[dict[str, object]]:
    by_symbol: dict[str, list[SignalOutcome]] = defaultdict(list)
    for o in result.outcomes:
        by_symbol[o.signal.symbol].append(o)
    charts: list[dict[str, object]] = []
    for (market, symbol), (interval, path) in sorted(result.paths.items()):
        markers = [
            svg.Marker(
                o.signal.window_end_ms,
                o.entry,
                o.signal.direction is not Direction.BEARISH,
                f"{o.signal.detector} {o.signal.timeframe} {o.signal.direction.value} "
                f"{datetime.fromtimestamp(o.signal.window_end_ms / 1000, UTC):%Y-%m-%d %H:%M} entry {o.entry:.6g}",
            )
            for o in by_symbol.get(symbol, [])
            if o.entry == o.entry
        ]
        chart = svg.price_chart(path.close_ms, path.closes, markers, f"{symbol} {interval}")
        charts.append(
            {
                "title": f"{market.value} {symbol} ({interval}, {len(markers)} signals)",
                "svg": Markup(chart),
            }
        )
    return charts


def _csv_rows(result: BacktestResult) -> tuple[list[str], list[list[object]]]:
    header = [
        "detector", "rule_version", "kind", "symbol", "timeframe", "direction", "severity",
        "window_start_ms", "window_end_ms", "time_utc", "entry", "stop", "target", "symbol_group", "bucket",
    ]  # fmt: skip
    for h in result.horizons:
        header += [f"return_pct_{h}", f"mfe_pct_{h}", f"mae_pct_{h}"]
    header += ["exit", "exit_bars", "exit_elapsed_ms"]
    rows: list[list[object]] = []
    for o in result.outcomes:
        s = o.signal
        row: list[object] = [
            s.detector, s.rule_version, s.kind, s.symbol, s.timeframe, s.direction.value, s.severity.value,
            s.window_start_ms, s.window_end_ms,
            datetime.fromtimestamp(s.window_end_ms / 1000, UTC).isoformat(timespec="milliseconds"),
            o.entry, s.metrics.get("stop", ""), s.metrics.get("target", ""), o.symbol_group, o.bucket,
        ]  # fmt: skip
        for h in result.horizons:
            ho = o.horizons.get(h)
            row += [ho.return_pct, ho.mfe_pct, ho.mae_pct] if ho else ["", "", ""]
        row += [o.exit.kind.value, o.exit.bars, o.exit.elapsed_ms] if o.exit else ["", "", ""]
        rows.append(row)
    return header, rows


def summarize(result: BacktestResult) -> ReportSummary:
    return ReportSummary(
        events=result.events,
        bars=result.bars,
        signals=len(result.signals),
        signals_by_detector=dict(sorted(Counter(s.detector for s in result.signals).items())),
        signals_by_symbol=dict(sorted(Counter(s.symbol for s in result.signals).items())),
        horizons=result.horizons,
        bars_per_s=result.bars / result.detect_s if result.detect_s > 0 else 0.0,
    )


def write_report(
    result: BacktestResult, out_dir: str | Path, title: str = "cryptoradar backtest"
) -> ReportFiles:
    """Write the four report files into `out_dir` (created if needed) and return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = ReportFiles(
        out / "report.html", out / "signals.csv", out / "signals.json", out / "hit_rates.json"
    )
    summary = summarize(result)
    html = _TEMPLATE.render(
        title=title,
        summary=summary,
        # `</` cannot appear in msgspec JSON of these fields, but escape it anyway: the block is inline.
        summary_json=Markup(msgspec.json.encode(summary).decode().replace("</", "<\\/")),
        horizons=result.horizons,
        detector_rows=_detector_rows(result),
        hit_rates=result.hit_rates,
        distributions=_distributions(result),
        price_charts=_price_charts(result),
        streams=result.streams,
        timeframe_notes=result.timeframes.notes(),
    )
    files.html.write_text(html, encoding="utf-8")
    header, rows = _csv_rows(result)
    with files.signals_csv.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    files.signals_json.write_bytes(msgspec.json.format(msgspec.json.encode(result.outcomes)))
    files.hit_rates_json.write_bytes(msgspec.json.format(msgspec.json.encode(result.hit_rates)))
    return files


def open_in_browser(path: Path) -> bool:
    """Open the report with the platform browser; False when none is available."""
    try:
        browser = webbrowser.get()
    except webbrowser.Error:
        return False
    return browser.open(path.resolve().as_uri())
