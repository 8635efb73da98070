"""A real PostgreSQL server for the tests: initdb + postgres in a temporary directory, TCP on a free
127.0.0.1 port, password authentication over TCP (so DSNs carry a password, as in production).

PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user (else `nobody`)
via `runuser`, in a directory that user owns. Binaries come from PATH or /usr/lib/postgresql/*/bin.
fsync is off: the tests kill clients, never the server, so durability against power loss is not under test.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

USER = "radar"


def _bin_dir() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(candidates[-1]).parent if candidates else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """One running server; `create_database()` hands each test a fresh, empty database."""

    def __init__(self, bin_dir: Path, root: Path, run_as: str | None) -> None:
        self.bin_dir = bin_dir
        self.root = root
        self.run_as = run_as
        self.password = secrets.token_hex(12)
        self.port = _free_port()
        self.data_dir = root / "data"
        self._databases = 0

    def _run(self, *args: str) -> None:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self.run_as is not None:
            command = ["runuser", "-u", self.run_as, "--", *command]
        result = subprocess.run(command, capture_output=True, timeout=120, cwd=self.root, check=False)
        if result.returncode != 0:
            output = (result.stdout + result.stderr).decode(errors="replace")
            raise RuntimeError(f"{args[0]} exited with {result.returncode}: {output}")

    def start(self) -> None:
        pwfile = self.root / "pw"
        pwfile.write_text(self.password)
        if self.run_as is not None:
            user = pwd.getpwnam(self.run_as)
            for path in (self.root, pwfile):
                os.chown(path, user.pw_uid, user.pw_gid)
        self._run(
            "initdb", "-D", str(self.data_dir), "-U", USER, f"--pwfile={pwfile}",
            "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync",
        )  # fmt: skip
        for attempt in range(3):
            options = (
                f"-c port={self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.root}"
                " -c fsync=off -c full_page_writes=off -c max_connections=200"
            )
            try:
                self._run(
                    "pg_ctl",
                    "-D",
                    str(self.data_dir),
                    "-o",
                    options,
                    "-l",
                    str(self.root / "log"),
                    "-w",
                    "start",
                )
                return
            except RuntimeError:
                if attempt == 2:
                    raise
                self.port = _free_port()  # another process took the port between probe and bind

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")

    def dsn(self, database: str = "postgres", *, password: str | None = None) -> str:
        return f"postgresql://{USER}:{password or self.password}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; returns its DSN."""
        self._databases += 1
        name = f"t{os.getpid()}_{self._databases}"
        self._run("createdb", "-h", str(self.root), "-p", str(self.port), "-U", USER, name)
        return self.dsn(name)


def start_postgres() -> Iterator[PostgresServer]:
    """Generator for a session fixture. Missing PostgreSQL fails in CI (never a silent skip)."""
    bin_dir = _bin_dir()
    if bin_dir is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL (initdb) not found; .ci/run installs it with apt-get")
        pytest.skip("PostgreSQL (initdb) not installed")
    run_as: str | None = None
    if os.geteuid() == 0:
        run_as = "postgres"
        try:
            pwd.getpwnam(run_as)
        except KeyError:
            run_as = "nobody"
    root = Path(tempfile.mkdtemp(prefix="cryptoradar-pg-"))
    server = PostgresServer(bin_dir, root, run_as)
    try:
        server.start()
        yield server
        server.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
