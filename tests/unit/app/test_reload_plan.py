"""Which changed settings a reload applies live and which it refuses (pure: settings in, plan out)."""

from __future__ import annotations

from pydantic import SecretStr

from cryptoradar.app.reload import changed_keys, plan_reload
from cryptoradar.config import Settings
from cryptoradar.config.alerts import AlertsConfig, WebhookChannel


def _with(settings: Settings, section: str, **changes: object) -> Settings:
    current = getattr(settings, section)
    return settings.model_copy(update={section: current.model_copy(update=changes)})


def test_threshold_change_is_applied_live() -> None:
    old = Settings()
    momentum = old.detectors.momentum.model_copy(update={"min_move_pct": 2.5})
    new = _with(old, "detectors", momentum=momentum)
    plan = plan_reload(old, new)
    assert plan.accepted
    assert plan.applied == ["detectors.momentum.min_move_pct"]
    assert plan.sections() == {"detectors"}


def test_restart_only_keys_are_each_named_and_reject_the_reload() -> None:
    old = Settings()
    new = _with(old, "api", port=9999)
    new = _with(new, "binance", spot_intervals=("1m",))
    new = _with(new, "storage", sqlite_path=old.storage.sqlite_path.with_name("other.db"))
    new = _with(new, "detectors", momentum=old.detectors.momentum.model_copy(update={"min_move_pct": 2.5}))
    plan = plan_reload(old, new)
    assert not plan.accepted
    assert plan.needs_restart == ["api.port", "binance.spot_intervals", "storage.sqlite_path"]
    assert plan.applied == ["detectors.momentum.min_move_pct"]


def test_unchanged_settings_change_nothing() -> None:
    plan = plan_reload(Settings(), Settings())
    assert plan.accepted
    assert plan.applied == []
    assert plan.needs_restart == []


def test_secret_changes_are_detected_by_value_and_only_the_key_is_reported() -> None:
    def settings(url: str) -> Settings:
        channel = WebhookChannel(url=SecretStr(url), secret=SecretStr("hmac-key"))
        return Settings(
            alerts=AlertsConfig(channels={"hook": channel}, default_channels=("hook",), fallback_channels=())
        )

    keys = changed_keys(settings("https://a.example/x"), settings("https://b.example/y"))
    assert keys == ["alerts.channels.hook.url"]
    assert changed_keys(settings("https://a.example/x"), settings("https://a.example/x")) == []


def test_added_and_removed_dictionary_entries_are_changes() -> None:
    old = Settings()
    groups = {"memes": ("DOGEUSDT",)}
    new = _with(old, "alerts", symbol_groups=groups)
    assert changed_keys(old, new) == ["alerts.symbol_groups.memes"]
    assert changed_keys(new, old) == ["alerts.symbol_groups.memes"]
