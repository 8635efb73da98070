"""Config loading: precedence, interpolation, and errors that name the key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from cryptoradar.config import DEFAULT_CONFIG_PATH, load_settings, redacted_dump
from cryptoradar.core.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_packaged_defaults_load_and_cover_spot_and_futures() -> None:
    settings = load_settings()
    assert DEFAULT_CONFIG_PATH.is_file()
    assert settings.universe.quote_asset == "USDT"
    assert settings.universe.futures is True
    assert settings.binance.futures.streams_per_connection == 200


def test_unknown_key_is_rejected_with_its_path(tmp_path: Path) -> None:
    path = write(tmp_path, "binance:\n  spot:\n    rest_url: http://x\n    wsurl: ws://y\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert "binance.spot.wsurl: unknown key" in str(info.value)


def test_bad_value_names_key_value_and_fix(tmp_path: Path) -> None:
    path = write(tmp_path, "api:\n  port: 99999\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = str(info.value)
    assert "api.port" in message
    assert "99999" in message
    assert "use a value inside the stated range" in message


def test_env_interpolation_with_default_and_missing_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CR_TEST_PORT", "9100")
    path = write(tmp_path, "api:\n  port: ${CR_TEST_PORT}\n  host: ${CR_TEST_UNSET:-127.0.0.2}\n")
    settings = load_settings(path)
    assert settings.api.port == 9100
    assert settings.api.host == "127.0.0.2"

    missing = write(tmp_path, "api:\n  host: ${CR_TEST_DEFINITELY_UNSET}\n")
    with pytest.raises(ConfigError) as info:
        load_settings(missing)
    assert "api.host" in str(info.value)
    assert "CR_TEST_DEFINITELY_UNSET" in str(info.value)


def test_environment_overrides_file_which_overrides_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "api:\n  port: 9200\n  host: 127.0.0.3\n")
    monkeypatch.setenv("CRYPTORADAR__API__PORT", "9300")
    settings = load_settings(path)
    assert settings.api.port == 9300
    assert settings.api.host == "127.0.0.3"
    assert settings.api.enabled is True


def test_secrets_are_redacted_and_never_in_errors(tmp_path: Path) -> None:
    canary = "canary-secret-7f3a"
    settings = load_settings(write(tmp_path, f"api:\n  token: {canary}\n"))
    assert settings.api.token.get_secret_value() == canary
    assert canary not in repr(redacted_dump(settings))
    assert canary not in repr(settings)

    bad = write(tmp_path, f"api:\n  token: [{canary}]\n")
    with pytest.raises(ConfigError) as info:
        load_settings(bad)
    assert canary not in str(info.value)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[1, 2]", "top level must be a mapping"),
        ("api: [unclosed", "not valid YAML"),
    ],
)
def test_broken_files_give_clear_errors(tmp_path: Path, text: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text))
    assert fragment in str(info.value)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path / "nope.yaml")
    assert "cannot read config file" in str(info.value)
