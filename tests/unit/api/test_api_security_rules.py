"""Token comparison, secret discovery in config models, and scrubbing."""

from __future__ import annotations

from pydantic import SecretStr

from cryptoradar.api.security import REDACTED, SecretScrubber, bearer_matches, secret_values
from cryptoradar.config import Settings
from cryptoradar.config.alerts import AlertsConfig, TelegramChannel
from cryptoradar.config.api import ApiConfig


def test_bearer_matches_only_the_exact_token() -> None:
    token = SecretStr("s3cret-token")
    assert bearer_matches("Bearer s3cret-token", token)
    assert not bearer_matches("Bearer s3cret-token2", token)
    assert not bearer_matches("bearer s3cret-token", token)
    assert not bearer_matches("s3cret-token", token)
    assert not bearer_matches(None, token)
    assert not bearer_matches("Bearer ", SecretStr("x"))


def test_secret_values_finds_every_secret_in_the_settings_tree() -> None:
    settings = Settings(
        api=ApiConfig(token=SecretStr("api-canary")),
        alerts=AlertsConfig(
            channels={"tg": TelegramChannel(bot_token=SecretStr("tg-canary"), chat_id="42")},
            default_channels=("tg",),
            fallback_channels=("tg",),
        ),
    )
    assert sorted(secret_values(settings)) == ["api-canary", "tg-canary"]


def test_scrubber_replaces_longest_first_and_ignores_tiny_values() -> None:
    scrubber = SecretScrubber(["abcd", "abcdefgh", "xy"])
    assert scrubber.scrub(b"[abcdefgh] [abcd] [xy]") == b"[" + REDACTED + b"] [" + REDACTED + b"] [xy]"
    assert not SecretScrubber(["", "a"])
