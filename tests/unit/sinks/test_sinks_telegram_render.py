from __future__ import annotations

import random

from pydantic import SecretStr

from cryptoradar.sinks.telegram import ALERT_SEPARATOR, TelegramSink, render_alert
from fakes.alerts import HOSTILE_LABEL, sample_alert
from fakes.telegram import parse_html, utf16_len


def test_title_is_escaped_body_is_kept_as_markup_and_fields_are_not_repeated() -> None:
    alert = sample_alert(title=HOSTILE_LABEL, body="<i>trusted</i> body", fields=(("Entry", "<b>x</b>"),))
    visible, tags = parse_html(render_alert(alert))
    assert visible == HOSTILE_LABEL + "\ntrusted body"
    assert sorted(set(tags)) == ["b", "i"]  # the sink's own <b> title and the body's <i>; nothing injected


def test_oversized_alert_becomes_plain_text_within_the_limit() -> None:
    # Emoji are 2 UTF-16 units each: counting code points would overshoot Telegram's limit.
    alert = sample_alert(body="<b>" + "📈 up " * 2000 + "</b>", title="T & <x>")
    markup = render_alert(alert)
    visible, tags = parse_html(markup)
    assert tags == []
    assert utf16_len(visible) <= 4096
    assert visible.startswith("T & <x>")
    assert visible.endswith("…")


def _min_messages(units: list[int], sep_units: int, max_units: int = 4096) -> int:
    """Fewest order-preserving groups, by dynamic programming (independent of the sink's greedy packer)."""
    best = [0] + [len(units) + 1] * len(units)
    for end in range(1, len(units) + 1):
        for start in range(end):
            size = sum(units[start:end]) + sep_units * (end - start - 1)
            if size <= max_units:
                best[end] = min(best[end], best[start] + 1)
    return best[-1]


def test_pack_40_alerts_into_the_minimum_number_of_messages() -> None:
    rng = random.Random(11)
    alerts = [
        sample_alert(i, body="<i>" + "x &amp; y " * rng.randint(5, 300) + "</i>", title=f"ETH <{i}>")
        for i in range(1, 41)
    ]
    sink = TelegramSink(SecretStr("1:secret"), "42", "http://127.0.0.1:9")
    packs = sink.pack(alerts)
    assert [a for n in packs for a in n.alerts] == alerts
    units = [utf16_len(parse_html(render_alert(a))[0]) for a in alerts]
    for notification in packs:
        visible, _ = parse_html(ALERT_SEPARATOR.join(render_alert(a) for a in notification.alerts))
        assert utf16_len(visible) <= 4096
    assert len(packs) == _min_messages(units, utf16_len(ALERT_SEPARATOR))
    assert len(packs) > 1
