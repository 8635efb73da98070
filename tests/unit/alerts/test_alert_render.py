"""Templates: per-channel escaping, mention neutralising, overrides, the packaged formats."""

from __future__ import annotations

from pathlib import Path

import jinja2.exceptions
import msgspec
import pytest
from signals import T0_NS, make_signal, make_trade

from cryptoradar.alerts.enrich import MarketContextEnricher
from cryptoradar.alerts.operator import IncidentKind, NoticeState, OperatorNotice, operator_signal
from cryptoradar.alerts.render import Renderer, fmt_metric, fmt_price, neutralise_mentions
from cryptoradar.alerts.wallet import channel_disabled_signal, wallet_signal
from cryptoradar.config.alerts import ChannelType
from cryptoradar.detectors.base import passed
from cryptoradar.events import BookTicker, Direction, Market, MarkPrice, Severity

HOSTILE = "<b>@everyone</b> & <@123> @here"


def test_momentum_format() -> None:
    s = msgspec.structs.replace(
        make_signal(
            metrics={"strength": 8.5, "move_pct": 2.35, "move_atr": 3.1, "volume_pct": 450, "volume_z": 4.2}
        ),
        conditions=tuple(passed(f"trend_{tf}_close_vs_ema_pct", 0.4, ">", 0.0) for tf in ("15m", "1h")),
    )
    context = ["Regime: trending", "Spread: 1.2 bps", "Hit rate of similar setups: n/a"]
    a = Renderer().render(s, 5, ChannelType.CONSOLE, context)
    assert a.title == "🚀 MOMENTUM ALERT: BTCUSDT 1m"
    assert a.body.splitlines() == [
        "📊 Signal Strength: 8.5/10",
        "📈 Price Move: +2.35% (3.1 ATR normalised)",
        "📊 Volume: +450.00% vs avg (z-score: 4.2)",
        "⏰ Bar Close: 2025-12-31 23:59:59 UTC",
        "",
        "📋 Context:",
        "• Market: Bullish trend (15m, 1h aligned)",  # from the trend conditions the detector checked
        "• Regime: trending",
        "• Spread: 1.2 bps",  # a hit rate of n/a is left out
    ]
    assert a.fields[0] == ("Strength", "8.5/10")
    assert (a.alert_id, a.severity, a.ts_event_ns, a.body_html) == (5, Severity.HIGH, T0_NS, "")
    # Discord shows the numbers as embed fields: the description does not repeat them.
    d = Renderer().render(s, 5, ChannelType.DISCORD, context)
    assert "Strength" not in d.body
    assert "Bar Close" not in d.body
    assert d.fields == a.fields


def test_confluence_format() -> None:
    s = make_signal(
        detector="confluence",
        kind="confluence",
        direction=Direction.BEARISH,
        metrics={
            "entry": 64000,
            "stop": 64500,
            "target": 63000,
            "risk_reward": 2,
            "stop_distance_pct": 0.78,
            "confidence": 4,
        },
        labels={"factors": "ema_cross,rsi,vwap"},
    )
    a = Renderer().render(s, 1, ChannelType.CONSOLE)
    assert "SHORT" in a.title
    for line in (
        "Entry: 64,000.00",
        "Stop: 64,500.00 (0.78%)",
        "Target: 63,000.00",
        "Risk/reward: 2.00",
        "Indicators: ema_cross, rsi, vwap",
    ):
        assert line in a.body.splitlines()
    assert ("R:R", "2.00") in a.fields


def test_radar_labelled_columns() -> None:
    s = make_signal(
        detector="futures_radar",
        kind="large_liquidation",
        metrics={"notional_usd": 2_500_000, "price": 97000.5},
        labels={"side": "SELL", "liquidated": "long"},
    )
    a = Renderer().render(s, 1, ChannelType.LOG)
    assert a.title == "⚠️ LARGE LIQUIDATION - BTCUSDT"
    assert "Type        : Long Liquidation" in a.body.splitlines()
    assert "Value       : $2,500,000" in a.body.splitlines()
    assert ("Price", "$97,000.50") in a.fields
    tg = Renderer().render(s, 1, ChannelType.TELEGRAM)
    assert "<b>Exchange</b>: Binance USD-M futures" in tg.body.splitlines()


def test_radar_strength_falls_back_to_the_documented_score_bands() -> None:
    s = make_signal(detector="futures_radar", kind="radar", metrics={"score": 0.95, "storm_count": 3})
    a = Renderer().render(s, 1, ChannelType.CONSOLE)
    assert "Score       : 0.95 (EXTREME)" in a.body.splitlines()


def test_html_channel_escapes_values_and_plain_channel_neutralises_mentions() -> None:
    s = make_signal(kind="odd", detector="odd", labels={"note": HOSTILE})
    tg = Renderer().render(s, 1, ChannelType.TELEGRAM)
    assert "&lt;b&gt;@everyone&lt;/b&gt; &amp; &lt;@123&gt;" in tg.body
    assert tg.body.startswith("<b>")  # template markup stays markup
    discord = Renderer().render(s, 1, ChannelType.DISCORD)
    assert "@everyone" not in discord.body
    assert "@here" not in discord.body
    assert "<@" not in discord.body
    email = Renderer().render(s, 1, ChannelType.EMAIL)
    assert "&lt;b&gt;" in email.body_html
    assert "<b>" not in email.body.replace("<b>@", "")


def test_neutralise_mentions() -> None:
    assert neutralise_mentions("hi @everyone") == "hi @\u200beveryone"


def test_wallet_and_operator_and_correction_templates() -> None:
    trade = make_trade(wallet_label="@everyone fund", tx_hash="0x01")
    r = Renderer()
    a = r.render(wallet_signal(trade), 1, ChannelType.DISCORD)
    assert "WETH" in a.title
    assert "@everyone" not in a.title
    assert "https://polygonscan.com/tx/0x01" in a.body
    c = r.render(wallet_signal(trade, correction=True), 2, ChannelType.TELEGRAM)
    assert c.title.startswith("↩️ Correction")
    op = r.render(channel_disabled_signal("tg", "401 Unauthorized", T0_NS), 3, ChannelType.LOG)
    assert "Operator" in op.title
    assert "401 Unauthorized" in op.body
    assert op.severity is Severity.CRITICAL


def test_operator_notice_open_and_resolved_render_safely() -> None:
    r = Renderer()
    hostile = "<b>@everyone</b> ban"
    notice = OperatorNotice(
        IncidentKind.REST_BAN, "binance-spot", NoticeState.OPEN, "REST banned", hostile, T0_NS, T0_NS
    )
    tg = r.render(operator_signal(notice), 0, ChannelType.TELEGRAM)
    assert tg.title == "⚠️ Operator: REST banned"
    assert "&lt;b&gt;@everyone&lt;/b&gt; ban" in tg.body
    assert tg.severity is Severity.CRITICAL
    discord = r.render(operator_signal(notice), 0, ChannelType.DISCORD)
    assert "@everyone" not in discord.body
    resolved = msgspec.structs.replace(notice, state=NoticeState.RESOLVED, summary="store writable again")
    done = r.render(operator_signal(resolved), 0, ChannelType.LOG)
    assert done.title == "✅ Resolved: store writable again"
    assert done.severity is Severity.INFO
    assert ("State", "resolved") in done.fields


def test_templates_dir_overrides_per_channel(tmp_path: Path) -> None:
    (tmp_path / "momentum.telegram.j2").write_text(
        '{% extends "_layout.j2" %}{% block title %}custom {{ s.symbol }}{% endblock %}'
        '{% block body %}<i>{{ l.get("x", "") }}</i>{% endblock %}'
    )
    r = Renderer(tmp_path)
    tg = r.render(make_signal(labels={"x": "<y>"}), 1, ChannelType.TELEGRAM)
    assert (tg.title, tg.body, tg.fields) == ("custom BTCUSDT", "<i>&lt;y&gt;</i>", ())
    assert r.render(make_signal(), 1, ChannelType.DISCORD).title.startswith("🚀")


def test_template_that_skips_the_layout_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "default.j2").write_text("just text")
    with pytest.raises(ValueError, match=r"_layout\.j2"):
        Renderer(tmp_path).render(make_signal(kind="zz", detector="zz"), 1, ChannelType.LOG)


def test_sandbox_blocks_unsafe_access(tmp_path: Path) -> None:
    (tmp_path / "default.j2").write_text(
        '{% extends "_layout.j2" %}{% block body %}{{ s.__class__.__mro__ }}{% endblock %}'
    )
    with pytest.raises(jinja2.exceptions.SecurityError):
        Renderer(tmp_path).render(make_signal(kind="zz", detector="zz"), 1, ChannelType.LOG)


def test_enricher_context_lines() -> None:
    e = MarketContextEnricher(stale_after_s=60)
    e.observe(BookTicker(Market.SPOT, "BTCUSDT", 1, 100.0, 1, 100.02, 1, T0_NS - 1_000_000_000, T0_NS))
    e.observe(MarkPrice(Market.USDM, "BTCUSDT", 100, 100, 0.0001, 0, T0_NS - 1_000_000_000, T0_NS))
    e.observe(make_signal(symbol="ETHUSDT", at_ns=T0_NS - 10_000_000_000))
    e.observe(make_signal(symbol="SOLUSDT", at_ns=T0_NS - 10_000_000_000, direction=Direction.BEARISH))
    lines = e.context_lines(make_signal(labels={"regime": "trending"}))
    assert lines == [
        "Regime: trending",
        "Co-moving: ETHUSDT",
        "Spread: 2.0 bps",
        "Funding: +0.0100%",
        "Hit rate of similar setups: n/a",
    ]
    stale = e.context_lines(make_signal(at_ns=T0_NS + 3600 * 1_000_000_000))
    assert stale == ["Hit rate of similar setups: n/a"]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (88450.123, "88,450.12"),
        (1_234_567.8, "1,234,567.80"),
        (3.456712, "3.45671"),
        (0.0123456, "0.0123456"),
        (0.00012345, "0.00012345"),
        (-64000.0, "-64,000.00"),
        (0.0, "0.00"),
    ],
)
def test_prices_keep_six_significant_digits_with_separators_and_never_scientific(
    value: float, text: str
) -> None:
    assert fmt_price(value) == text


def test_metrics_are_formatted_by_the_unit_in_their_name() -> None:
    assert fmt_metric("entry", 88450.0) == "88,450.00"
    assert fmt_metric("move_pct", 2.5) == "+2.50%"
    assert fmt_metric("notional_usd", 2_500_000) == "$2.50M"
    assert fmt_metric("group_size", 4.0) == "4"
    assert fmt_metric("volume_z", 4.256) == "4.26"
