"""Load settings from YAML with ${ENV} interpolation and environment overrides.

Precedence, highest first: `CRYPTORADAR__SECTION__KEY` environment variables, the YAML file, defaults.
Every failure is a `ConfigError` naming the key path, the bad value (redacted when secret) and the fix.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import SecretStr, ValidationError

from cryptoradar.config.settings import Settings
from cryptoradar.core.errors import ConfigError

DEFAULT_CONFIG_PATH = Path(__file__).with_name("default.yaml")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def load_settings(path: Path | None = None) -> Settings:
    """Read `path` (the packaged defaults when None), interpolate, overlay the environment, validate."""
    env = dict(os.environ)
    source = path or DEFAULT_CONFIG_PATH
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read config file {source}: {e.strerror}; pass an existing file") from e
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{source} is not valid YAML: {e}") from e
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of sections, got {type(raw).__name__}")
    data = _interpolate(raw, env, path="")
    try:
        return Settings(**data)
    except ValidationError as e:
        raise ConfigError(_describe(e, source)) from None


def _interpolate(node: Any, env: dict[str, str], path: str) -> Any:
    if isinstance(node, dict):
        return {k: _interpolate(v, env, f"{path}.{k}" if path else str(k)) for k, v in node.items()}
    if isinstance(node, list):
        return [_interpolate(v, env, f"{path}[{i}]") for i, v in enumerate(node)]
    if isinstance(node, str):

        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            raise ConfigError(
                f"{path}: environment variable {name} is not set; export it or write ${{{name}:-default}}"
            )

        return _ENV_REF.sub(replace, node)
    return node


def _describe(error: ValidationError, source: Path) -> str:
    lines = [f"invalid configuration in {source} ({error.error_count()} problem(s)):"]
    for item in error.errors():
        key = ".".join(str(p) for p in item["loc"]) or "(top level)"
        kind = item["type"]
        if kind == "extra_forbidden":
            lines.append(
                f"  {key}: unknown key; remove it or check its spelling against `cryptoradar config check`"
            )
            continue
        if kind == "value_error":
            # Our validators' messages name the key, the problem and the fix; the input is a whole
            # section here, so echoing it (or a generic fix) would point at the wrong thing.
            message = item["msg"].removeprefix("Value error, ")
            lines.append(f"  {message}" if message.startswith(f"{key}.") else f"  {key}: {message}")
            continue
        value = item.get("input")
        # Only scalars are echoed: a whole section may hold secrets (RPC URLs with keys) under any name.
        scalar = isinstance(value, str | int | float | bool) or value is None
        bad = repr(value) if scalar and not _looks_secret(key) else "<redacted>"
        lines.append(f"  {key}: {item['msg']} (got {bad}); {_fix_for(kind)}")
    return "\n".join(lines)


def _looks_secret(key: str) -> bool:
    return any(word in key.lower() for word in ("token", "password", "secret", "url", "key"))


def _fix_for(kind: str) -> str:
    if kind == "missing":
        return "add this key"
    if kind.startswith(("greater", "less")):
        return "use a value inside the stated range"
    if kind in ("literal_error", "enum"):
        return "use one of the listed values"
    return "use a value of the expected type"


def redacted_dump(settings: Settings) -> dict[str, Any]:
    """The effective config as plain data with every secret replaced by '**********'."""

    def walk(node: Any) -> Any:
        if isinstance(node, SecretStr):
            return "**********" if node.get_secret_value() else ""
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list | tuple):
            return [walk(v) for v in node]
        if isinstance(node, Path):
            return str(node)
        return node

    return walk(settings.model_dump(mode="python"))  # type: ignore[no-any-return]
