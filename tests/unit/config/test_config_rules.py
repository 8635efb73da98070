"""Settings that can never work are refused by the real loader, in one line naming the key (or file and
line, or variable) and the fix; partial env overrides of nested sections work."""

from __future__ import annotations

from pathlib import Path

import pytest

from cryptoradar.config import load_settings
from cryptoradar.config.binance import FUTURES_INTERVALS, SPOT_INTERVALS
from cryptoradar.core.errors import ConfigError


def refused(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = str(info.value)
    assert "\n" not in message, message
    return message


def config_file(tmp_path: Path, content: str | bytes) -> Path:
    path = tmp_path / "config.yaml"
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        (
            'binance:\n  spot_intervals: ["1m", "7m"]\n',
            ["binance.spot_intervals", "'7m'", "use some of 1s, 1m"],
        ),
        ('binance:\n  futures_intervals: ["1s"]\n', ["binance.futures_intervals", "'1s'", "use some of 1m"]),
        ('binance:\n  spot_intervals: ["1H"]\n', ["'1H'", "case-sensitive"]),
        (
            "binance:\n  reconnect_initial_s: 100\n  reconnect_max_s: 10\n",
            ["binance.reconnect_initial_s (100) exceeds reconnect_max_s (10)", "lower the first"],
        ),
        ("alerts:\n  retry_initial_s: 500\n", ["alerts.retry_initial_s (500) exceeds retry_max_s (300)"]),
        (
            "storage:\n  postgres_pool_min_size: 5\n  postgres_pool_max_size: 2\n",
            ["storage.postgres_pool_min_size (5) exceeds postgres_pool_max_size (2)"],
        ),
        ("detectors:\n  momentum:\n    timeframe: 7m\n", ["detectors.momentum.timeframe", "'7m'"]),
        (
            "detectors:\n  confluence:\n    market: usdm\n    intervals: [1s]\n",
            ["detectors.confluence.intervals", "'1s'", "use some of 1m"],
        ),
        (
            "detectors:\n  radar:\n    strength_bounds: [0.5, 0.3, 0.9]\n",
            ["detectors.radar.strength_bounds[0] (0.5) exceeds [1] (0.3)"],
        ),
        ("log:\n  level: LOUD\n", ["log.level", "use one of the listed values"]),
        ("storage:\n  backend: mysql\n", ["storage.backend", "use one of the listed values"]),
        (
            "api:\n  port: 1\napi:\n  port: 2\n",
            ["line 3: key 'api' repeats the one on line 1", "keep only one"],
        ),
        ("api:\n  port: 1\n  port: 2\n", ["line 3: key 'port' repeats the one on line 2"]),
        ("1: x\n", ["line 1: key 1 is not a string", "quote it"]),
        (
            "a: &x\n  b: *x\n",
            ["a.b: a YAML alias refers to a section containing itself", "replace the *alias"],
        ),
        ("api: [unclosed\n", ["not valid YAML", "line 2", "fix it there"]),
    ],
)
def test_config_that_cannot_work_is_refused_in_one_line(
    tmp_path: Path, text: str, fragments: list[str]
) -> None:
    message = refused(config_file(tmp_path, text))
    for fragment in fragments:
        assert fragment in message, message


def test_valid_interval_names_pass_for_each_market(tmp_path: Path) -> None:
    path = config_file(
        tmp_path,
        f"binance:\n  spot_intervals: {list(SPOT_INTERVALS)}\n  futures_intervals: {list(FUTURES_INTERVALS)}\n",
    )
    settings = load_settings(path)
    assert "1s" in settings.binance.spot_intervals
    assert "1s" not in settings.binance.futures_intervals
    assert "1M" in settings.binance.futures_intervals


def test_merge_keys_may_override_what_they_merge(tmp_path: Path) -> None:
    # `<<` is not a duplicate of the keys it brings in; the explicit `port` wins.
    merged = config_file(tmp_path, "api:\n  <<: {host: 127.0.0.9, port: 9000}\n  port: 9001\n")
    assert load_settings(merged).api.port == 9001


def test_non_utf8_file_names_the_file_and_the_fix(tmp_path: Path) -> None:
    message = refused(config_file(tmp_path, b'api:\n  host: "caf\xe9"\n'))
    assert str(tmp_path / "config.yaml") in message
    assert "not UTF-8" in message
    assert "save the file as UTF-8" in message


def test_one_field_of_a_nested_section_is_overridden_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRYPTORADAR__BINANCE__SPOT__REST_URL", "http://127.0.0.1:1")
    settings = load_settings()
    assert settings.binance.spot.rest_url == "http://127.0.0.1:1"
    assert settings.binance.spot.ws_url == "wss://data-stream.binance.vision"
    assert settings.binance.futures.rest_url == "https://fapi.binance.com"


def test_partial_override_keeps_the_files_other_fields(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = config_file(tmp_path, "binance:\n  spot:\n    rest_url: http://a\n    ws_url: ws://b\n"
                       "    weight_budget_per_min: 10\n    streams_per_connection: 5\n"
                       "    control_messages_per_s: 1\n")  # fmt: skip
    monkeypatch.setenv("CRYPTORADAR__BINANCE__SPOT__WS_URL", "ws://c")
    spot = load_settings(path).binance.spot
    assert (spot.rest_url, spot.ws_url, spot.weight_budget_per_min) == ("http://a", "ws://c", 10)


@pytest.mark.parametrize(
    ("value", "expected"), [("1m,5m", ("1m", "5m")), ('["1h"]', ("1h",)), ("15m", ("15m",))]
)
def test_list_override_is_a_comma_list_or_json(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: tuple[str, ...]
) -> None:
    monkeypatch.setenv("CRYPTORADAR__BINANCE__SPOT_INTERVALS", value)
    assert load_settings().binance.spot_intervals == expected


@pytest.mark.parametrize(
    ("name", "value", "fragments"),
    [
        ("CRYPTORADAR__BOGUS__X", "1", ["CRYPTORADAR__BOGUS__X", "unknown key"]),
        ("CRYPTORADAR__API__PROT", "1", ["CRYPTORADAR__API__PROT", "unknown key"]),
        ("CRYPTORADAR__API__PORT", "abc", ["CRYPTORADAR__API__PORT", "'abc'"]),
        (
            "CRYPTORADAR__BINANCE__SPOT_INTERVALS",
            "[1m",
            ["CRYPTORADAR__BINANCE__SPOT_INTERVALS", "not valid JSON"],
        ),
        ("CRYPTORADAR__BINANCE__SPOT_INTERVALS", "1m,7m", ["CRYPTORADAR__BINANCE__SPOT_INTERVALS", "'7m'"]),
    ],
)
def test_bad_env_override_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, fragments: list[str]
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, message


def test_several_problems_are_listed_on_one_line(tmp_path: Path) -> None:
    message = refused(config_file(tmp_path, "api:\n  port: 99999\nlog:\n  level: LOUD\n"))
    assert "(2 problems)" in message
    assert "api.port" in message
    assert "log.level" in message
