"""Every error a user can cause ends as ONE stderr line naming the key, path, port or host and the fix,
with a non-zero exit and no traceback: each case runs the installed `cryptoradar` in a child process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from process_harness import CLI, free_port

from cryptoradar.compiled import PURE_PYTHON_ENV

TIMEOUT_S = 60.0


def child_env(**overrides: str) -> dict[str, str]:
    # Pure Python: a stale compiled build's warning would be a second stderr line unrelated to the case.
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRYPTORADAR__")}
    return {**env, PURE_PYTHON_ENV: "1", **overrides}


def offline(**overrides: str) -> dict[str, str]:
    """Binance at a loopback port nobody listens on, API on a free port: nothing leaves the machine."""
    closed = f"127.0.0.1:{free_port()}"
    settings = {
        "CRYPTORADAR__BINANCE__SPOT__REST_URL": f"http://{closed}",
        "CRYPTORADAR__BINANCE__SPOT__WS_URL": f"ws://{closed}",
        "CRYPTORADAR__BINANCE__FUTURES__REST_URL": f"http://{closed}",
        "CRYPTORADAR__BINANCE__FUTURES__WS_URL": f"ws://{closed}",
        "CRYPTORADAR__API__PORT": str(free_port()),
        # Warnings and errors only: the user's error line must be the one thing said, not one among logs.
        "CRYPTORADAR__LOG__LEVEL": "WARNING",
    }
    return child_env(**{**settings, **overrides})


def cryptoradar(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLI), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
    )


def one_line_error(args: list[str], env: dict[str, str], cwd: Path, code: int = 1) -> str:
    done = cryptoradar(args, env, cwd)
    assert done.returncode == code, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


@contextmanager
def port_taken() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


BROKEN_CONFIGS = [
    ('binance:\n  spot_intervals: ["1m", "7m"]\n', ["binance.spot_intervals", "'7m'", "use some of"]),
    (
        "binance:\n  reconnect_initial_s: 100\n  reconnect_max_s: 10\n",
        ["binance.reconnect_initial_s (100) exceeds reconnect_max_s (10)", "lower the first"],
    ),
    (
        "alerts:\n  retry_initial_s: 900\n",
        ["alerts.retry_initial_s (900) exceeds retry_max_s", "raise the second"],
    ),
    ("api:\n  port: 1\napi:\n  port: 2\n", ["line 3", "'api' repeats the one on line 1", "keep only one"]),
    ("a: &x\n  b: *x\n", ["a.b", "alias", "replace the *alias"]),
    ("1: x\n", ["line 1", "key 1 is not a string", "quote it"]),
]


@pytest.mark.parametrize(("text", "fragments"), BROKEN_CONFIGS)
def test_config_check_refuses_each_broken_config(tmp_path: Path, text: str, fragments: list[str]) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    line = one_line_error(["config", "check", str(path)], child_env(), tmp_path, code=2)
    assert str(path) in line
    for fragment in fragments:
        assert fragment in line, line


def test_config_check_refuses_a_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(b'api:\n  host: "caf\xe9"\n')
    line = one_line_error(["config", "check", str(path)], child_env(), tmp_path, code=2)
    assert f"{path} is not UTF-8" in line
    assert "save the file as UTF-8" in line


@pytest.mark.parametrize(
    ("name", "value", "fragments"),
    [
        ("CRYPTORADAR__BOGUS__X", "1", ["CRYPTORADAR__BOGUS__X", "unknown key"]),
        ("CRYPTORADAR__BINANCE__SPOT_INTERVALS", "[1m", ["CRYPTORADAR__BINANCE__SPOT_INTERVALS", "1m,5m"]),
        ("CRYPTORADAR__BINANCE__SPOT_INTERVALS", "1m,7m", ["CRYPTORADAR__BINANCE__SPOT_INTERVALS", "'7m'"]),
    ],
)
def test_config_check_refuses_bad_env_overrides(
    tmp_path: Path, name: str, value: str, fragments: list[str]
) -> None:
    line = one_line_error(["config", "check"], child_env(**{name: value}), tmp_path, code=2)
    for fragment in fragments:
        assert fragment in line, line


def test_one_nested_field_is_overridden_alone(tmp_path: Path) -> None:
    env = child_env(CRYPTORADAR__BINANCE__SPOT__REST_URL="http://127.0.0.1:9")
    done = cryptoradar(["config", "check"], env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert '"rest_url": "http://127.0.0.1:9"' in done.stdout
    assert '"ws_url": "wss://data-stream.binance.vision"' in done.stdout


def test_replay_of_a_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "gone.jsonl.zst"
    line = one_line_error(["replay", str(missing)], child_env(), tmp_path)
    assert f"{missing}: no such file" in line
    assert "cryptoradar record" in line


def test_record_into_a_missing_folder(tmp_path: Path) -> None:
    out = tmp_path / "nope" / "s.jsonl.zst"
    line = one_line_error(["record", "--sim", str(out)], child_env(), tmp_path)
    assert f"folder {out.parent} does not exist" in line


@pytest.mark.parametrize(
    ("make", "sqlite_error"),
    [
        (lambda p: p.write_bytes(b"this is not sqlite " * 100), "file is not a database"),
        (lambda p: p.mkdir(), "unable to open database file"),
    ],
)
def test_run_with_an_unreadable_database_names_its_path(
    tmp_path: Path, make: object, sqlite_error: str
) -> None:
    db = tmp_path / "alerts.db"
    make(db)  # type: ignore[operator]
    line = one_line_error(["run"], offline(CRYPTORADAR__STORAGE__SQLITE_PATH=str(db)), tmp_path)
    assert f"cannot open the database {db}: {sqlite_error}" in line
    assert "storage.sqlite_path" in line


def test_run_with_an_unwritable_log_path(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    log_path = tmp_path / "a-file" / "radar.jsonl"  # its folder is a file: cannot be created or written
    line = one_line_error(["run"], offline(CRYPTORADAR__LOG__FILE__PATH=str(log_path)), tmp_path)
    assert line.startswith(f"error: log.file.path: cannot write {log_path}"), line
    assert "writable folder" in line


def test_unreachable_postgres_is_named_without_its_password(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    dsn = f"postgresql://radar:canary-pw-8812@127.0.0.1:{port}/radar"
    env = offline(CRYPTORADAR__STORAGE__BACKEND="postgres", CRYPTORADAR__STORAGE__POSTGRES_DSN=dsn)
    line = one_line_error(["run"], env, tmp_path)
    assert f"cannot connect to PostgreSQL at postgresql://radar:***@127.0.0.1:{port}/radar" in line
    assert "storage.postgres_dsn" in line
    assert "canary-pw-8812" not in line


def test_run_with_the_api_port_in_use(tmp_path: Path) -> None:
    with port_taken() as port:
        line = one_line_error(["run"], offline(CRYPTORADAR__API__PORT=str(port)), tmp_path)
    assert f"127.0.0.1:{port} is already in use" in line
    assert "api.port" in line


def test_demo_with_its_simulator_port_in_use(tmp_path: Path) -> None:
    with port_taken() as port:
        env = child_env(CRYPTORADAR__SIM__SPOT_PORT=str(port))
        line = one_line_error(["demo", "--duration", "5"], env, tmp_path)
    assert f"127.0.0.1:{port} is already in use" in line
    assert "sim.spot_port" in line


def test_run_without_network_names_the_host_and_fails_on_ctrl_c(tmp_path: Path) -> None:
    # `.invalid` never resolves (RFC 2606): exactly what a machine without network sees.
    env = offline(
        CRYPTORADAR__BINANCE__SPOT__REST_URL="https://spot-api.invalid",
        CRYPTORADAR__BINANCE__FUTURES__REST_URL="https://futures-api.invalid",
        CRYPTORADAR__LOG__FORMAT="json",
    )
    child = subprocess.Popen(
        [str(CLI), "run"], env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        assert child.stderr is not None
        for line in child.stderr:  # wait until it has tried and failed to reach Binance
            if "binance_unreachable" in line:
                assert (
                    "unreachable at spot-api.invalid" in line or "unreachable at futures-api.invalid" in line
                )
                break
        child.send_signal(signal.SIGINT)
        rest = child.stderr.read()
        assert child.wait(timeout=TIMEOUT_S) == 1
    finally:
        if child.poll() is None:
            child.kill()
    assert "Traceback" not in rest, rest
    last = rest.strip().splitlines()[-1]
    assert last.startswith("error: stopped before Binance answered"), last
    assert "spot-api.invalid" in last
    assert "futures-api.invalid" in last
    assert "try `cryptoradar demo`" in last
