"""The mypyc build: compiled where CI demands it, identical to the interpreted source, never stale."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import msgspec
import pytest

from conftest import shared_data
from cryptoradar import compiled

CHILD = Path(__file__).with_name("compiled_child.py")
REQUIRED = os.environ.get("CRYPTORADAR_REQUIRE_MYPYC", "").strip().lower() in ("1", "true", "yes")


def _compiled_build() -> None:
    """Skip where the install fell back to pure Python; CI sets CRYPTORADAR_REQUIRE_MYPYC, which fails instead."""
    missing = [m for m in compiled.COMPILED_MODULES if compiled.built_path(m) is None]
    if missing:
        if REQUIRED:
            pytest.fail(f"CRYPTORADAR_REQUIRE_MYPYC is set but these are not compiled: {missing}")
        pytest.skip("pure-Python install (mypyc build fell back); nothing compiled to compare")


class ChildOutput(msgspec.Struct):
    compiled: bool
    signals: list[msgspec.Raw]


def _run_child(pure_python: bool) -> ChildOutput:
    env = {k: v for k, v in os.environ.items() if k != compiled.PURE_PYTHON_ENV}
    if pure_python:
        env[compiled.PURE_PYTHON_ENV] = "1"
    done = subprocess.run(
        [sys.executable, str(CHILD), str(shared_data())],
        env=env,
        capture_output=True,
        check=True,
        timeout=120,
    )
    return msgspec.json.decode(done.stdout, type=ChildOutput)


def test_this_process_runs_the_compiled_hot_path() -> None:
    _compiled_build()
    assert compiled.compiled_in_use()
    for module in compiled.COMPILED_MODULES:
        assert not (sys.modules.get(module) or __import__(module, fromlist=["_"])).__file__.endswith(".py")


def test_compiled_and_interpreted_detectors_give_identical_signals() -> None:
    _compiled_build()
    built, source = _run_child(pure_python=False), _run_child(pure_python=True)
    assert (built.compiled, source.compiled) == (True, False)
    detectors = Counter(msgspec.json.decode(s)["detector"] for s in built.signals)
    assert set(detectors) == {"momentum", "confluence", "futures_radar"}, detectors
    # Byte for byte: every float, every int-vs-float, every label, in the same order.
    assert [bytes(s) for s in built.signals] == [bytes(s) for s in source.signals]


def _import_engine_from(root: Path) -> subprocess.CompletedProcess[str]:
    code = "import cryptoradar.detectors.engine as e, cryptoradar.indicators.moving as m; print(e.__file__, m.__file__)"
    env = {k: v for k, v in os.environ.items() if k != compiled.PURE_PYTHON_ENV}
    env["PYTHONPATH"] = str(root / "src")
    return subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )


def test_an_edited_source_checkout_runs_every_compiled_module_from_source(tmp_path: Path) -> None:
    """After an edit (or a checkout) without a rebuild the stale `.so` must not run the old code."""
    _compiled_build()
    src = Path(compiled.__file__).resolve().parents[1]
    shutil.copytree(src, tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "setup.py").write_text("")  # what marks a source checkout

    fresh = _import_engine_from(tmp_path)
    assert fresh.stdout.split() == [
        str(compiled.built_path(m, tmp_path / "src"))
        for m in ("cryptoradar.detectors.engine", "cryptoradar.indicators.moving")
    ]
    assert fresh.stderr == ""

    edited = compiled.source_path("cryptoradar.detectors.momentum", tmp_path / "src")
    built = compiled.built_path("cryptoradar.detectors.momentum", tmp_path / "src")
    assert built is not None
    later = built.stat().st_mtime + 1
    os.utime(edited, (later, later))
    stale = _import_engine_from(tmp_path)
    # Not only the edited module: all of them, since compiled ones cannot call into an interpreted one.
    assert stale.stdout.split() == [
        str(compiled.source_path(m, tmp_path / "src"))
        for m in ("cryptoradar.detectors.engine", "cryptoradar.indicators.moving")
    ]
    assert f"{edited} changed after it was compiled" in stale.stderr
    assert "pip install -e ." in stale.stderr
