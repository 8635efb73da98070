from __future__ import annotations

import random
from typing import Any

import msgspec
from pydantic import SecretStr

from cryptoradar.notifications import RenderedAlert
from cryptoradar.sinks._limits import ELLIPSIS
from cryptoradar.sinks.discord import DiscordSink, WebhookMessage, build_embed
from fakes.alerts import sample_alert
from fakes.discord import validate_message


def _embed_json(alert: RenderedAlert) -> dict[str, Any]:
    embed: dict[str, Any] = msgspec.to_builtins(build_embed(alert))
    return embed


def _counted_chars(embed: dict[str, Any]) -> int:
    """Discord's 6000-budget count, computed here from the wire JSON (not from the sink's own count)."""
    fields = embed.get("fields", [])
    return (
        len(embed.get("title", "").strip())
        + len(embed.get("description", "").strip())
        + len(embed["footer"]["text"].strip())
        + sum(len(f["name"].strip()) + len(f["value"].strip()) for f in fields)
    )


def _min_messages(sizes: list[int], max_embeds: int = 10, max_chars: int = 6000) -> int:
    """Fewest order-preserving groups by dynamic programming (independent of the sink's greedy packer)."""
    best = [0] + [len(sizes) + 1] * len(sizes)
    for end in range(1, len(sizes) + 1):
        for start in range(max(0, end - max_embeds), end):
            if sum(sizes[start:end]) <= max_chars:
                best[end] = min(best[end], best[start] + 1)
    return best[-1]


def test_oversized_alert_is_truncated_into_every_discord_limit() -> None:
    alert = sample_alert(
        title="T" * 1000,
        body=("word " * 3000).strip(),
        fields=tuple((f"name {i} " + "n" * 300, f"value {i} " + "v" * 2000) for i in range(30)),
    )
    embed = _embed_json(alert)
    assert len(embed["title"]) == 256
    assert embed["title"].endswith(ELLIPSIS)
    assert len(embed["fields"]) <= 25
    assert _counted_chars(embed) <= 6000
    payload = msgspec.to_builtins(WebhookMessage(username="cryptoradar", embeds=(build_embed(alert),)))
    assert validate_message(payload) == {}


def test_empty_text_is_omitted_rather_than_sent_empty() -> None:
    embed = _embed_json(sample_alert(title="  ", body="", fields=()))
    assert "title" not in embed
    assert "description" not in embed
    assert embed["footer"] == {"text": "alert #1"}


def test_description_is_cut_at_a_word_boundary() -> None:
    embed = _embed_json(sample_alert(body=("alpha beta " * 600).strip(), fields=()))
    description = embed["description"]
    assert isinstance(description, str)
    assert len(description) <= 4096
    assert description.endswith("a" + ELLIPSIS)  # "alpha"/"beta" both end in "a": no word was chopped


def test_pack_40_alerts_into_the_minimum_number_of_valid_messages() -> None:
    rng = random.Random(7)
    alerts = [
        sample_alert(i, body=" ".join(["lorem"] * rng.randint(10, 600)), fields=(("Entry", str(i)),))
        for i in range(1, 41)
    ]
    sink = DiscordSink(SecretStr("http://127.0.0.1:9/api/webhooks/1/secret"))
    packs = sink.pack(alerts)
    assert [a for n in packs for a in n.alerts] == alerts
    for notification in packs:
        payload = msgspec.to_builtins(
            WebhookMessage(username="cryptoradar", embeds=tuple(build_embed(a) for a in notification.alerts))
        )
        assert validate_message(payload) == {}
    sizes = [_counted_chars(_embed_json(a)) for a in alerts]
    assert len(packs) == _min_messages(sizes)
    assert len(packs) > 40 // 10  # the 6000-char budget, not only the 10-embed cap, is binding here
