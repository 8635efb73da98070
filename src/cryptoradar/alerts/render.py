"""Signal -> RenderedAlert per channel with Jinja2 sandboxed templates.

Template lookup (first found wins, a configured `templates_dir` before the packaged templates):
`<kind>.<channel_type>.j2`, `<kind>.j2`, `<detector>.<channel_type>.j2`, `<detector>.j2`, then the
kind's family (`radar.j2` for the futures radar kinds), then `default.j2`. A template extends
`_layout.j2` and fills three blocks: `title`, `body` and `fields` (one `label: value` per line, split at
the first ": "). Templates see `s` (the Signal), `m` (metrics), `l` (labels), `alert_id`,
`context_lines` (enrichment, minus lines without a value such as "...: n/a"), `html` and `channel`;
`_common.j2` holds shared macros (import it `with context`: they mark up for the channel).

Each value is shown once per channel: console, Telegram and e-mail print the body (the original formats of
../shared/seeds, numbers formatted for humans) and not `fields`; Discord shows `fields` as embed fields,
so the packaged templates leave those rows out of its body; webhook and log carry both as data.

Escaping: HTML channels (telegram; email's `body_html`) autoescape every value. Plain channels (discord,
console, log, webhook, apprise) do not escape, but every value printed is passed through
`neutralise_mentions`, so a wallet label reading "@everyone" cannot ping anyone (the Discord sink also
sends `allowed_mentions`).

Wire data (symbol, symbols, timeframe, labels such as wallet labels and token names, enrichment lines)
reaches templates made single-line first (`one_line`: a newline in a symbol would otherwise add lines and
`label: value` fields of its own, or an e-mail header), and for Discord with its markdown escaped
(`escape_discord_markdown`: no bold, code, quotes or masked links `[x](y)` from a label).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import msgspec
from jinja2 import ChoiceLoader, FileSystemLoader, PackageLoader, Template, TemplateNotFound
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from cryptoradar.config.alerts import ChannelType
from cryptoradar.events import Direction, Severity, Signal
from cryptoradar.notifications import RenderedAlert

HTML_CHANNELS = frozenset({ChannelType.TELEGRAM})
_ZWSP = "\u200b"
_SEP = "\x1e"
"""ASCII record separator between the layout's sections; it never occurs in rendered text."""
_COLORS = {
    Severity.INFO: 0x5865F2,
    Severity.WARNING: 0xF1C40F,
    Severity.HIGH: 0xE67E22,
    Severity.CRITICAL: 0xE74C3C,
}
_FAMILY = {k: "radar" for k in ("large_liquidation", "whale_trade", "liquidation_storm", "whale_cluster")}
_DIRECTION_COLORS = {Direction.BULLISH: 0x2ECC71, Direction.BEARISH: 0xE74C3C}


def neutralise_mentions(text: str) -> str:
    """Break `@everyone`, `@here` and `<@id>` role/user mentions with a zero-width space."""
    return (
        text.replace("@everyone", f"@{_ZWSP}everyone")
        .replace("@here", f"@{_ZWSP}here")
        .replace("<@", f"<{_ZWSP}@")
    )


_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
"""Control characters (newlines, tabs, the layout's separator) and the Unicode line/paragraph separators:
everything `str.splitlines` splits on."""
_DISCORD_MARKDOWN = re.compile(r"([\\*_~`|>#\[\]()<-])")


def one_line(text: str) -> str:
    """`text` on one line: every run of control or line-separator characters becomes one space."""
    return _BREAKS.sub(" ", text)


def escape_discord_markdown(text: str) -> str:
    """Backslash-escape Discord markdown (emphasis, code, spoilers, quotes, headings, lists, masked links,
    `<...>` mentions and timestamps) so a label shows as typed."""
    return _DISCORD_MARKDOWN.sub(r"\\\1", text)


def _wire_safe(signal: Signal, clean: Callable[[str], str]) -> Signal:
    """The signal with every field that can come from wire data or user config passed through `clean`."""
    return msgspec.structs.replace(
        signal,
        symbol=clean(signal.symbol),
        timeframe=clean(signal.timeframe),
        symbols=tuple(clean(x) for x in signal.symbols),
        # A URL stays clickable: percent-encoding (not backslashes) takes the markup out of it.
        labels={k: _url(v) if k.endswith("_url") else clean(v) for k, v in signal.labels.items()},
    )


def _url(text: str) -> str:
    return quote(one_line(text).strip(), safe=":/?#&=%.-_~+@!$,;")


def _cleaner(channel_type: ChannelType) -> Callable[[str], str]:
    if channel_type is ChannelType.DISCORD:
        return lambda text: escape_discord_markdown(one_line(text))
    return one_line


def _finalize_plain(value: Any) -> Any:
    return neutralise_mentions(value) if isinstance(value, str) else value


_PRICE_SIGNIFICANT_DIGITS = 6
_PRICE_KEYS = frozenset({"price", "close", "entry", "stop", "target", "reference_close", "vwap", "atr"})
_PRICE_KEYS |= {f"ema_{name}" for name in ("fast", "slow", "trend")}


def fmt_price(value: float | None) -> str:
    """A price with thousands separators and about six significant digits (2 to 8 decimals):
    `88,450.12`, `3.45671`, `0.00012345`; never scientific notation."""
    if value is None:
        return "n/a"
    magnitude = abs(value)
    decimals = 2
    if magnitude > 0:
        decimals = min(8, max(2, _PRICE_SIGNIFICANT_DIGITS - 1 - math.floor(math.log10(magnitude))))
    return f"{value:,.{decimals}f}"


def fmt_pct(value: float | None, signed: bool = True) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.2f}%" if signed else f"{value:.2f}%"


def fmt_usd(value: float | None) -> str:
    if value is None:
        return "n/a"
    for threshold, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= threshold:
            return f"${value / threshold:,.2f}{suffix}"
    return f"${value:,.2f}"


def fmt_usd_full(value: float | None) -> str:
    """Whole dollars with separators, as the radar's formats print them: `$1,250,000`."""
    return "n/a" if value is None else f"${value:,.0f}"


def fmt_time_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def fmt_num(value: float | None, decimals: int = 2) -> str:
    return "n/a" if value is None else f"{value:,.{decimals}f}"


def fmt_metric(key: str, value: float) -> str:
    """A detector metric formatted by its name's unit: `*_usd` as money, `*_pct` as a signed percent,
    prices as prices, counts as integers, anything else with two decimals."""
    if key.endswith("_usd") or key == "quote_volume":
        return fmt_usd(value)
    if key.endswith("_pct"):
        return fmt_pct(value)
    if key in _PRICE_KEYS:
        return fmt_price(value)
    if key.endswith(("count", "_size")) or key == "confidence":
        return fmt_num(value, 0)
    return fmt_num(value, 2)


def _environment(loader: ChoiceLoader, html: bool) -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        loader=loader,
        autoescape=html,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        auto_reload=False,
        finalize=None if html else _finalize_plain,
    )
    env.filters.update(
        price=fmt_price,
        pct=fmt_pct,
        usd=fmt_usd,
        time_ms=fmt_time_ms,
        num=fmt_num,
        metric=fmt_metric,
        usd_full=fmt_usd_full,
    )
    return env


class Renderer:
    """Renders signals with per-channel-type templates. Construct once; templates are cached."""

    def __init__(self, templates_dir: Path | None = None) -> None:
        loaders: list[FileSystemLoader | PackageLoader] = []
        if templates_dir is not None:
            loaders.append(FileSystemLoader(str(templates_dir)))
        loaders.append(PackageLoader("cryptoradar.alerts", "templates"))
        loader = ChoiceLoader(loaders)
        self._plain = _environment(loader, html=False)
        self._html = _environment(loader, html=True)
        self._cache: dict[tuple[str, str, str, bool], Template] = {}

    def _template(self, signal: Signal, channel_type: ChannelType, html: bool) -> Template:
        key = (signal.kind, signal.detector, channel_type.value, html)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        env = self._html if html else self._plain
        names = [
            f"{signal.kind}.{channel_type.value}.j2",
            f"{signal.kind}.j2",
            f"{signal.detector}.{channel_type.value}.j2",
            f"{signal.detector}.j2",
        ]
        family = _FAMILY.get(signal.kind)
        if family is not None:
            names.append(f"{family}.j2")
        names.append("default.j2")
        try:
            template = env.select_template(names)
        except TemplateNotFound as e:  # pragma: no cover - default.j2 ships with the package
            raise RuntimeError(f"no alert template among {names}") from e
        self._cache[key] = template
        return template

    def _render_blocks(
        self, signal: Signal, alert_id: int, channel_type: ChannelType, context: Sequence[str], html: bool
    ) -> tuple[str, str, tuple[tuple[str, str], ...]]:
        template = self._template(signal, channel_type, html)
        clean = one_line if html else _cleaner(channel_type)
        safe = _wire_safe(signal, clean)
        text = template.render(
            s=safe,
            m=signal.metrics,
            l=safe.labels,
            alert_id=alert_id,
            context_lines=[clean(line) for line in context if _carries_value(line)],
            html=html,
            channel=channel_type.value,
            sep=_SEP,
        )
        parts = text.split(_SEP)
        if len(parts) != 3:
            raise ValueError(f"template {template.name} must extend _layout.j2 (got {len(parts)} sections)")
        title, body, fields_text = (_tidy(p) for p in parts)
        fields: list[tuple[str, str]] = []
        for line in fields_text.splitlines():
            label, sep, value = line.partition(": ")
            if sep and label.strip():
                fields.append((_unescape(label.strip(), html), _unescape(value.strip(), html)))
        return title, body, tuple(fields)

    def render(
        self, signal: Signal, alert_id: int, channel_type: ChannelType, context: Sequence[str] = ()
    ) -> RenderedAlert:
        html = channel_type in HTML_CHANNELS
        title, body, fields = self._render_blocks(signal, alert_id, channel_type, context, html)
        body_html = ""
        if channel_type is ChannelType.EMAIL:
            # HTML collapses newlines: each line of the body ends in a <br> to keep the format's rows.
            body_html = self._render_blocks(signal, alert_id, channel_type, context, True)[1]
            body_html = body_html.replace("\n", "<br>\n")
        color = _DIRECTION_COLORS.get(signal.direction, _COLORS[signal.severity])
        if signal.severity is Severity.CRITICAL:
            color = _COLORS[Severity.CRITICAL]
        return RenderedAlert(
            alert_id=alert_id,
            severity=signal.severity,
            title=_unescape(title, html),
            body=body,
            fields=fields,
            color=color,
            ts_event_ns=signal.ts_event_ns,
            body_html=body_html,
        )


def _carries_value(line: str) -> bool:
    """False for an enrichment line with nothing to say ("Hit rate of similar setups: n/a")."""
    label, sep, value = line.partition(": ")
    return bool(label.strip()) and (not sep or value.strip() not in ("", "n/a"))


def _tidy(text: str) -> str:
    """Strip trailing spaces and collapse runs of blank lines left by optional template lines."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out)


def _unescape(text: str, html: bool) -> str:
    """Titles and fields are plain text for every channel (sinks escape them as their markup needs)."""
    return Markup(text).unescape() if html else text
