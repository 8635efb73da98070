"""A plain `pip install .` (no extras) in a fresh venv runs the commands: nothing needs a dev dependency.

Needs PyPI (CI has it). CRYPTORADAR_PURE_PYTHON=1 skips the mypyc build: what this test checks is the
dependency list and the import graph, which the compiled build does not change.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parents[2]


def _run(args: list[str], cwd: Path, timeout_s: float) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))}
    env["CRYPTORADAR_PURE_PYTHON"] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout_s, check=False
    )


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (
        f"{result.args} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result.stdout


@pytest.mark.slow
def test_plain_pip_install_runs_backtest_record_replay_and_demo(tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / ("Scripts" if sys.platform == "win32" else "bin")
    _ok(_run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet", str(CHECKOUT)], tmp_path, 900))
    # No dev extra came in with it: the commands below run without them.
    listed = _ok(_run([str(bin_dir / "python"), "-m", "pip", "list", "--format=freeze"], tmp_path, 120))
    installed = {line.split("==")[0].lower() for line in listed.splitlines()}
    assert not installed & {"pytest", "ccxt", "python-binance", "ta-lib", "hypothesis", "aiosmtpd"}

    cli = str(bin_dir / "cryptoradar")
    assert "--candles" in _ok(_run([cli, "backtest", "--help"], tmp_path, 120))
    recording = tmp_path / "session.jsonl.zst"
    _ok(_run([cli, "record", "--sim", "--duration", "5", str(recording)], tmp_path, 180))
    assert recording.stat().st_size > 0
    _ok(_run([cli, "replay", str(recording)], tmp_path, 180))
    _ok(_run([cli, "demo", "--duration", "5"], tmp_path, 300))
