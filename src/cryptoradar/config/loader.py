"""Load settings from YAML with ${ENV} interpolation and environment overrides.

Precedence, highest first: `CRYPTORADAR__SECTION__KEY` environment variables, the YAML file, defaults.
An override may set one field of a nested section alone (`CRYPTORADAR__BINANCE__SPOT__REST_URL`): the
rest of that section keeps its file or default values. Every failure is a `ConfigError` naming the key
path (or the file and line, or the variable), the bad value (redacted when secret) and the fix.
"""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path
from typing import Any

import yaml
from dotenv import dotenv_values
from pydantic import SecretStr, ValidationError

from cryptoradar.config.settings import Settings
from cryptoradar.core.errors import ConfigError

DEFAULT_CONFIG_PATH = Path(__file__).with_name("default.yaml")
ENV_FILE_VAR = "CRYPTORADAR_ENV_FILE"
"""Names the .env file to read (what `cryptoradar --env-file` sets); unset: `.env` in the working dir."""
ENV_PREFIX = "CRYPTORADAR__"
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _StrictLoader(yaml.SafeLoader):
    """Safe YAML that refuses what would otherwise pass silently: a repeated key (the last one would win)
    and a key that is not a string (`1:` or `true:` cannot name a setting)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[object, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue  # `<<: *base` keys may be overridden on purpose
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if not isinstance(key, str):
                raise ConfigError(
                    f"line {line}: key {key!r} is not a string; quote it or fix the indentation"
                )
            if key in seen:
                raise ConfigError(
                    f"line {line}: key {key!r} repeats the one on line {seen[key]}; keep only one of them"
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def load_settings(path: Path | None = None, env_file: Path | None = None) -> Settings:
    """Read `path` (the packaged defaults when None), interpolate, overlay the environment, validate.

    The environment is the process's over the values of `env_file` (else `$CRYPTORADAR_ENV_FILE`, else
    `.env` in the working directory when there is one): a real variable always wins over the file.
    """
    env = _environment(env_file)
    source = path or DEFAULT_CONFIG_PATH
    raw = _read_yaml(source)
    try:
        data = _interpolate(raw, env, path="", parents=())
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from None
    overrides = _env_overrides(env)
    for keys, value in overrides.items():
        _apply_override(data, keys, value)
    try:
        return Settings(**data)
    except ValidationError as e:
        raise ConfigError(_describe(e, source, overrides)) from None


def _read_yaml(source: Path) -> dict[str, Any]:
    try:
        text = source.read_bytes().decode("utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read config file {source}: {e.strerror}; pass an existing file") from e
    except UnicodeDecodeError as e:
        raise ConfigError(
            f"{source} is not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset {e.start}); "
            "save the file as UTF-8"
        ) from None
    try:
        raw = yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass
    except ConfigError as e:
        raise ConfigError(f"{source}, {e}") from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(
            f"{source} is not valid YAML: {e.problem or e.context}{where}; fix it there"
        ) from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{source} is not valid YAML: {e}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of sections, got {type(raw).__name__}")
    return raw


def _env_overrides(env: dict[str, str]) -> dict[tuple[str, ...], str]:
    """`CRYPTORADAR__A__B=v` as {("a", "b"): "v"}, shortest paths first so deeper ones refine them."""
    found = {
        tuple(part.lower() for part in name[len(ENV_PREFIX) :].split("__")): value
        for name, value in env.items()
        if name.upper().startswith(ENV_PREFIX)
    }
    return dict(sorted(found.items(), key=lambda item: len(item[0])))


def _env_name(keys: tuple[str, ...]) -> str:
    return ENV_PREFIX + "__".join(k.upper() for k in keys)


def _apply_override(data: dict[str, Any], keys: tuple[str, ...], text: str) -> None:
    if not all(keys):
        raise ConfigError(f"{_env_name(keys)}: empty key part (doubled or trailing __); write SECTION__KEY")
    defaults: Any = _DEFAULTS
    node = data
    for key in keys[:-1]:
        defaults = defaults.get(key) if isinstance(defaults, dict) else None
        child = node.get(key)
        if not isinstance(child, dict):
            # Not in the file: start from the defaults of that section, so one field can be set alone.
            child = copy.deepcopy(defaults) if isinstance(defaults, dict) else {}
            node[key] = child
        node = child
    last = keys[-1]
    default = defaults.get(last) if isinstance(defaults, dict) else None
    node[last] = _parse_env_value(_env_name(keys), text, sequence=isinstance(default, list | tuple))


def _parse_env_value(name: str, text: str, *, sequence: bool) -> Any:
    """JSON for lists and sections (`["1m","5m"]`, `{"port": 1}`); a plain comma list for a list setting
    (`1m,5m`); anything else as the text (validated, and converted, by the setting's type)."""
    stripped = text.strip()
    if stripped.startswith(("[", "{")):
        try:
            return json.loads(stripped)
        except json.JSONDecodeError as e:
            raise ConfigError(
                f"{name} is not valid JSON ({e.msg} at column {e.colno}); write a list as "
                '["1m","5m"] or 1m,5m and a section as {"key": "value"}'
            ) from None
    if sequence:
        return [part.strip() for part in stripped.split(",") if part.strip()]
    return text


def _environment(env_file: Path | None) -> dict[str, str]:
    named = env_file or (Path(value) if (value := os.environ.get(ENV_FILE_VAR)) else None)
    source = named or Path(".env")
    if not source.is_file():
        if named is None:
            return dict(os.environ)
        raise ConfigError(f"env file {source} does not exist; pass an existing file or leave --env-file out")
    try:
        values = dotenv_values(source, encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(
            f"cannot read env file {source} ({type(e).__name__}); save it as UTF-8 text"
        ) from None
    # `NAME=` (an unfilled line copied from .env.example) or `NAME` alone sets nothing, so a ${NAME} it
    # was meant for fails at load time, naming it, instead of sending with an empty token.
    return {**{k: v for k, v in values.items() if v}, **os.environ}


def _interpolate(node: Any, env: dict[str, str], path: str, parents: tuple[int, ...]) -> Any:
    if isinstance(node, dict | list):
        if id(node) in parents:
            raise ConfigError(
                f"{path}: a YAML alias refers to a section containing itself; replace the *alias with values"
            )
        parents = (*parents, id(node))
    if isinstance(node, dict):
        return {k: _interpolate(v, env, f"{path}.{k}" if path else str(k), parents) for k, v in node.items()}
    if isinstance(node, list):
        return [_interpolate(v, env, f"{path}[{i}]", parents) for i, v in enumerate(node)]
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


def _describe(error: ValidationError, source: Path, overrides: dict[tuple[str, ...], str]) -> str:
    lines: list[str] = []
    for item in error.errors():
        key = ".".join(str(p) for p in item["loc"]) or "(top level)"
        kind = item["type"]
        culprit = _override_behind(tuple(str(p) for p in item["loc"]), kind, overrides)
        if culprit is not None:
            key = f"{_env_name(culprit)} ({key})"
        if kind == "extra_forbidden":
            lines.append(
                f"  {key}: unknown key; remove it or check its spelling against `cryptoradar config check`"
            )
            continue
        if kind == "value_error":
            # Our validators' messages name the key, the problem and the fix; the input is a whole
            # section here, so echoing it (or a generic fix) would point at the wrong thing.
            message = item["msg"].removeprefix("Value error, ")
            lines.append(f"  {message}" if message.startswith(key) else f"  {key}: {message}")
            continue
        value = item.get("input")
        # Only scalars are echoed: a whole section may hold secrets (RPC URLs with keys) under any name.
        scalar = isinstance(value, str | int | float | bool) or value is None
        bad = repr(value) if scalar and not _looks_secret(key) else "<redacted>"
        lines.append(f"  {key}: {item['msg']} (got {bad}); {_fix_for(kind)}")
    # One line even for several problems: a CLI error is one line (items already end in their fix).
    problems = " | ".join(line.strip() for line in lines)
    count = f" ({len(lines)} problems)" if len(lines) > 1 else ""
    return f"invalid configuration in {source}{count}: {problems}"


def _override_behind(
    loc: tuple[str, ...], kind: str, overrides: dict[tuple[str, ...], str]
) -> tuple[str, ...] | None:
    """The env override an error is about: one that set this key (or a part of it), or, for an unknown
    key, one that created it. None when the file is to blame."""
    for keys in reversed(overrides):
        if loc[: len(keys)] == keys or (kind == "extra_forbidden" and keys[: len(loc)] == loc):
            return keys
    return None


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


_DEFAULTS: dict[str, Any] = Settings().model_dump(mode="python")
"""What a partial env override of a section not in the file starts from."""
