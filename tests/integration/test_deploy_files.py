"""The deployment files are consistent with the code: compose (validated against the Compose
Specification's JSON schema), systemd unit, Dockerfile, Grafana."""

from __future__ import annotations

import asyncio
import importlib.resources
import json
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import jsonschema
import jsonschema.protocols
import jsonschema.validators
import pytest
import typer
import yaml
from api_harness import running_api
from prometheus_client.metrics import MetricWrapperBase
from pydantic import SecretStr

import cryptoradar.alerts.delivery
import cryptoradar.alerts.service
import cryptoradar.api.live
import cryptoradar.api.monitor
import cryptoradar.api.server
import cryptoradar.detectors.base
import cryptoradar.sources.evm.processor
from cryptoradar.api.security import check_bind
from cryptoradar.cli import app as cli_app
from cryptoradar.config import load_settings
from cryptoradar.core import metrics as core_metrics
from cryptoradar.core.errors import ConfigError
from cryptoradar.core.metrics import REGISTRY

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
METRIC_MODULES = (
    cryptoradar.alerts.delivery,
    cryptoradar.alerts.service,
    cryptoradar.api.live,
    cryptoradar.api.monitor,
    cryptoradar.api.server,
    cryptoradar.detectors.base,
    cryptoradar.sources.evm.processor,
)
"""Imported for their metrics: the dashboard may only reference metrics these register."""


# --- Dockerfile ---------------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line.strip() else "")
        for line in (raw.strip() for raw in text.splitlines())
        if line and not line.startswith("#")
    ]


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list), f"use the exec (JSON) form: {args}"
    return [str(v) for v in value]


def test_dockerfile_is_multi_stage_and_runs_unprivileged() -> None:
    instructions = dockerfile_instructions()
    assert sum(1 for name, _ in instructions if name == "FROM") >= 2
    users = [args for name, args in instructions if name == "USER"]
    assert users, "the image must switch to an unprivileged user"
    assert users[-1].split(":")[0] not in ("root", "0")


def test_dockerfile_entrypoint_is_a_real_cli_command() -> None:
    (entrypoint,) = [exec_form(args) for name, args in dockerfile_instructions() if name == "ENTRYPOINT"]
    assert entrypoint == ["cryptoradar", "run", "--config", "/etc/cryptoradar/config.yaml"]
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["cryptoradar"] == "cryptoradar.cli:main"
    group = typer.main.get_command(cli_app)
    assert isinstance(group, typer.core.TyperGroup)
    run = group.commands[entrypoint[1]]
    assert any(entrypoint[2] in param.opts for param in run.params)


def test_dockerfile_healthcheck_runs_a_shipped_script() -> None:
    instructions = dockerfile_instructions()
    (health,) = [args for name, args in instructions if name == "HEALTHCHECK"]
    command = exec_form(health.split(" CMD ", 1)[1].strip())
    assert command[0] == "python"
    copies = {shlex.split(args)[-1]: shlex.split(args)[-2] for name, args in instructions if name == "COPY"}
    assert (REPO / copies[command[1]]).is_file()
    assert copies["/etc/cryptoradar/config.yaml"] == "deploy/config.yaml"


async def test_healthcheck_script_passes_on_a_live_server_and_fails_on_a_dead_one() -> None:
    script = str(DEPLOY / "healthcheck.py")
    async with running_api() as h:
        assert await run_healthcheck(script, f"{h.base_url}/healthz") == 0
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    assert await run_healthcheck(script, f"http://127.0.0.1:{closed_port}/healthz") == 1


async def run_healthcheck(script: str, url: str) -> int:
    process = await asyncio.create_subprocess_exec(
        sys.executable, script, env={"CRYPTORADAR_HEALTH_URL": url}, stderr=subprocess.DEVNULL
    )
    return await asyncio.wait_for(process.wait(), 30)


def test_shipped_config_loads_and_satisfies_the_token_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRYPTORADAR_API_TOKEN", "deploy-test-token")
    monkeypatch.delenv("CRYPTORADAR_API_HOST", raising=False)
    settings = load_settings(DEPLOY / "config.yaml")
    assert settings.api.host == "0.0.0.0"
    assert settings.api.token.get_secret_value() == "deploy-test-token"
    check_bind(settings.api.host, settings.api.token)
    assert str(settings.storage.sqlite_path).startswith("/var/lib/cryptoradar/")
    with pytest.raises(ConfigError, match=r"api\.token"):
        check_bind(settings.api.host, SecretStr(""))


# --- docker compose ---------------------------------------------------------------------------------


def compose() -> dict[str, object]:
    data = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def test_compose_structure() -> None:
    data = compose()
    services = data["services"]
    assert isinstance(services, dict)
    app = services["cryptoradar"]
    assert (DEPLOY / app["build"]["context"] / app["build"]["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
    assert "profiles" not in app, "the service itself must run without a profile"
    mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in app["volumes"]}
    assert set(mounts) == {"/var/lib/cryptoradar", "/var/log/cryptoradar"}
    assert set(mounts.values()) <= set(data["volumes"])
    dockerfile_volumes = next(json.loads(a) for n, a in dockerfile_instructions() if n == "VOLUME")
    assert set(dockerfile_volumes) == set(mounts)
    assert all(port.startswith("127.0.0.1:") for port in app["ports"]), "publish on loopback only"
    assert "CRYPTORADAR_API_TOKEN" in app["environment"]
    for name in ("nats", "postgres"):
        assert services[name]["profiles"] == ["scaled"]
        assert "healthcheck" in services[name]
        assert all(port.startswith("127.0.0.1:") for port in services[name]["ports"])
    assert "--jetstream" in services["nats"]["command"]
    assert services["postgres"]["image"].startswith("postgres:")


def compose_spec_validator() -> jsonschema.protocols.Validator:
    """The Compose Specification's own JSON schema, as vendored (with its licence) by check-jsonschema."""
    vendored = importlib.resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema = json.loads(vendored.read_text(encoding="utf-8"))
    assert schema["title"] == "Compose Specification"
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)


def test_compose_file_validates_against_the_compose_spec_schema() -> None:
    validator = compose_spec_validator()
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(compose())]
    assert errors == []


@pytest.mark.parametrize(
    ("path", "bad_value"),
    [
        (("services", "cryptoradar", "volumes"), "cryptoradar-data:/var/lib/cryptoradar"),
        (("services", "cryptoradar", "stop_grace_period"), ["30s"]),
        (("services", "nats", "healthcheck", "retries"), [5]),
        (("services", "cryptoradar", "restart_policy"), "always"),
    ],
)
def test_compose_schema_rejects_a_broken_file(path: tuple[str, ...], bad_value: object) -> None:
    """The validator is strict: the same file with one wrong type or an unknown key fails."""
    data = compose()
    node: dict[str, object] = data
    for key in path[:-1]:
        child = node[key]
        assert isinstance(child, dict)
        node = child
    node[path[-1]] = bad_value
    assert list(compose_spec_validator().iter_errors(data)), f"{'.'.join(path)} = {bad_value!r} was accepted"


# --- systemd ----------------------------------------------------------------------------------------


def unit_directives() -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for line in (DEPLOY / "cryptoradar.service").read_text().splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            directives.setdefault(key.strip(), []).append(value.strip())
    return directives


def test_unit_restarts_and_is_hardened() -> None:
    d = unit_directives()
    expected = {
        "Restart": "always",
        "RestartSec": "10",
        "User": "cryptoradar",
        "NoNewPrivileges": "true",
        "ProtectSystem": "strict",
        "ProtectHome": "true",
        "PrivateTmp": "true",
    }
    assert {key: d[key][-1] for key in expected} == expected
    assert set(d["ReadWritePaths"][0].split()) == {"/var/lib/cryptoradar", "/var/log/cryptoradar"}
    assert d["ExecStart"] == [
        "/opt/cryptoradar/venv/bin/cryptoradar run --config /etc/cryptoradar/config.yaml"
    ]


def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    # verify checks that ExecStart exists: point it at this checkout's installed entry point.
    cli = Path(sys.executable).with_name("cryptoradar")
    assert cli.is_file()
    unit = tmp_path / "cryptoradar.service"
    unit.write_text(
        (DEPLOY / "cryptoradar.service")
        .read_text()
        .replace("/opt/cryptoradar/venv/bin/cryptoradar", str(cli))
    )
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    # verify exits 0 even for directives it ignores; any complaint about our file is a failure.
    complaints = [
        line for line in result.stderr.splitlines() if str(unit) in line or "cryptoradar.service" in line
    ]
    assert complaints == []


def test_install_script_is_valid_shell() -> None:
    script = DEPLOY / "install.sh"
    assert script.stat().st_mode & 0o111
    subprocess.run(["sh", "-n", str(script)], check=True)
    shellcheck = shutil.which("shellcheck")
    if shellcheck is not None:
        subprocess.run([shellcheck, str(script)], check=True)


# --- Grafana ----------------------------------------------------------------------------------------

_METRIC = re.compile(r"\bcryptoradar_[a-z0-9_]+")
_SUFFIXES = ("_bucket", "_count", "_sum", "_total")


def registered_families() -> dict[str, str]:
    assert METRIC_MODULES
    return {family.name: family.type for family in REGISTRY.collect()}


def family_of(name: str, families: dict[str, str]) -> str:
    if name in families:
        return name
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and name.removesuffix(suffix) in families:
            return name.removesuffix(suffix)
    raise AssertionError(f"dashboard references {name}, which no module registers")


def dashboard_exprs() -> list[str]:
    dashboard = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0
        assert grid["x"] + grid["w"] <= 24
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def test_grafana_references_only_registered_metrics_and_covers_the_shared_ones() -> None:
    families = registered_families()
    exprs = dashboard_exprs()
    referenced = {family_of(name, families) for expr in exprs for name in _METRIC.findall(expr)}
    shared = {
        family.name
        for metric in vars(core_metrics).values()
        if isinstance(metric, MetricWrapperBase)
        for family in metric.describe()
    }
    assert len(shared) >= 14
    assert shared - referenced == set()
    for extra in ("cryptoradar_event_loop_lag_seconds", "cryptoradar_process_resident_memory_bytes"):
        assert extra in referenced


def test_grafana_histograms_are_read_as_quantiles_of_buckets() -> None:
    families = registered_families()
    exprs = dashboard_exprs()
    for name, kind in families.items():
        if kind != "histogram":
            continue
        uses = [e for e in exprs if name in e]
        assert uses, f"histogram {name} has no panel"
        for q in ("0.5", "0.95", "0.99"):
            assert any(f"histogram_quantile({q}," in e and f"{name}_bucket" in e for e in uses), (name, q)


def test_stop_timeouts_leave_room_for_the_graceful_shutdown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRYPTORADAR_API_TOKEN", "deploy-test-token")
    settings = load_settings(DEPLOY / "config.yaml")
    deadline_s = settings.lifecycle.shutdown_deadline_s
    unit = unit_directives()
    assert float(unit["TimeoutStopSec"][0]) > deadline_s
    assert unit["ExecReload"] == ["/bin/kill -HUP $MAINPID"], "systemctl reload sends SIGHUP"
    grace = compose()["services"]["cryptoradar"]["stop_grace_period"]  # type: ignore[index]
    assert float(str(grace).removesuffix("s")) > deadline_s
    assert settings.log.file.path is not None
    assert str(settings.log.file.path).startswith("/var/log/cryptoradar/")
    assert settings.log.file.retention_days == 7


def test_dockerfile_build_stage_copies_what_the_build_reads() -> None:
    """pyproject.toml names the backend, setup.py compiles the hot path, README is the long description."""
    instructions = dockerfile_instructions()
    second_from = [i for i, (name, _) in enumerate(instructions) if name == "FROM"][1]
    copied = {
        path for name, args in instructions[:second_from] if name == "COPY" for path in args.split()[:-1]
    }
    assert {"pyproject.toml", "setup.py", "README.md", "src"} <= copied
    assert (
        "ENV",
        "PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 CRYPTORADAR_REQUIRE_MYPYC=1",
    ) in instructions
