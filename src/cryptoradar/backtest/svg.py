"""Small inline SVG charts for the offline report: a price line with signal markers and a histogram.

Pure string builders, no JavaScript and no external assets; every text is XML-escaped. Long series are
reduced to at most `max_points` per chart by keeping each bucket's low and high (the shape survives).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

__all__ = ["Marker", "histogram", "price_chart"]

_BULL = "#1a7f37"
_BEAR = "#cf222e"
_LINE = "#0969da"
_AXIS = "#57606a"
_PAD_L, _PAD_R, _PAD_T, _PAD_B = 64, 12, 12, 28


@dataclass(frozen=True, slots=True)
class Marker:
    ts_ms: int
    price: float
    bullish: bool
    title: str


def _fmt_price(x: float) -> str:
    return f"{x:.6g}"


def _fmt_time(ts_ms: float) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).strftime("%m-%d %H:%M")


def _reduce(times: Sequence[int], values: Sequence[float], max_points: int) -> list[tuple[int, float]]:
    n = len(times)
    if n <= max_points:
        return list(zip(times, values, strict=True))
    buckets = max_points // 2
    out: list[tuple[int, float]] = []
    for b in range(buckets):
        i, j = b * n // buckets, (b + 1) * n // buckets
        lo = min(range(i, j), key=values.__getitem__)
        hi = max(range(i, j), key=values.__getitem__)
        out += [(times[k], values[k]) for k in sorted({lo, hi})]
    return out


def price_chart(
    times_ms: Sequence[int],
    closes: Sequence[float],
    markers: Sequence[Marker],
    title: str,
    width: int = 960,
    height: int = 280,
    max_points: int = 1600,
) -> str:
    """Close prices as a polyline with one triangle per signal (up: bullish, down: bearish)."""
    if not times_ms:
        return f"<p>{escape(title)}: no bars</p>"
    points = _reduce(times_ms, closes, max_points)
    t0, t1 = times_ms[0], max(times_ms[-1], times_ms[0] + 1)
    prices = [p for _, p in points] + [m.price for m in markers]
    p0, p1 = min(prices), max(prices)
    if p1 <= p0:
        p0, p1 = p0 * 0.999, p1 * 1.001 if p1 > 0 else 1.0
    plot_w, plot_h = width - _PAD_L - _PAD_R, height - _PAD_T - _PAD_B

    def x(t: float) -> float:
        return _PAD_L + (t - t0) / (t1 - t0) * plot_w

    def y(p: float) -> float:
        return _PAD_T + (1.0 - (p - p0) / (p1 - p0)) * plot_h

    line = " ".join(f"{x(t):.1f},{y(p):.1f}" for t, p in points)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
        f'<rect x="{_PAD_L}" y="{_PAD_T}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#d0d7de"/>',
        f'<polyline fill="none" stroke="{_LINE}" stroke-width="1" points="{line}"/>',
    ]
    for frac in (0.0, 0.5, 1.0):
        p = p0 + frac * (p1 - p0)
        parts.append(
            f'<text x="{_PAD_L - 4}" y="{y(p) + 4:.1f}" font-size="10" text-anchor="end" '
            f'fill="{_AXIS}">{_fmt_price(p)}</text>'
        )
        t = t0 + frac * (t1 - t0)
        anchor = {0.0: "start", 0.5: "middle", 1.0: "end"}[frac]
        parts.append(
            f'<text x="{x(t):.1f}" y="{height - 8}" font-size="10" text-anchor="{anchor}" '
            f'fill="{_AXIS}">{_fmt_time(t)}</text>'
        )
    for m in markers:
        cx, cy = x(m.ts_ms), y(m.price)
        tip = (cy + 7, cy - 1) if m.bullish else (cy - 7, cy + 1)
        shape = f"{cx - 4:.1f},{tip[0]:.1f} {cx + 4:.1f},{tip[0]:.1f} {cx:.1f},{tip[1]:.1f}"
        colour = _BULL if m.bullish else _BEAR
        parts.append(f'<polygon points="{shape}" fill="{colour}"><title>{escape(m.title)}</title></polygon>')
    parts.append("</svg>")
    return "".join(parts)


def histogram(
    values: Sequence[float],
    title: str,
    adverse: bool = False,
    bins: int = 30,
    width: int = 380,
    height: int = 200,
) -> str:
    """A histogram of `values` (non-finite dropped), zero line when in range; `adverse` draws it all red."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return f"<p>{escape(title)}: no data</p>"
    lo, hi = min(finite), max(finite)
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    counts = [0] * bins
    for v in finite:
        counts[min(bins - 1, int((v - lo) / (hi - lo) * bins))] += 1
    top = max(counts)
    plot_w, plot_h = width - _PAD_L - _PAD_R, height - _PAD_T - _PAD_B
    bar_w = plot_w / bins
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
        f'<text x="{_PAD_L}" y="10" font-size="11" fill="{_AXIS}">{escape(title)} (n={len(finite)})</text>',
    ]
    for i, c in enumerate(counts):
        h = c / top * (plot_h - 6)
        left = lo + i * (hi - lo) / bins
        colour = _BEAR if adverse or left < 0 else _BULL
        parts.append(
            f'<rect x="{_PAD_L + i * bar_w:.1f}" y="{_PAD_T + plot_h - h:.1f}" width="{max(bar_w - 1, 1):.1f}" '
            f'height="{h:.1f}" fill="{colour}"><title>{left:.3g}..{left + (hi - lo) / bins:.3g}: {c}</title></rect>'
        )
    if lo < 0 < hi:
        zx = _PAD_L + (0 - lo) / (hi - lo) * plot_w
        parts.append(
            f'<line x1="{zx:.1f}" y1="{_PAD_T}" x2="{zx:.1f}" y2="{_PAD_T + plot_h}" stroke="{_AXIS}"/>'
        )
    parts.append(
        f'<text x="{_PAD_L}" y="{height - 8}" font-size="10" fill="{_AXIS}">{lo:.3g}</text>'
        f'<text x="{width - _PAD_R}" y="{height - 8}" font-size="10" text-anchor="end" fill="{_AXIS}">{hi:.3g}</text>'
        f'<text x="{_PAD_L - 4}" y="{_PAD_T + 8}" font-size="10" text-anchor="end" fill="{_AXIS}">{top}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)
