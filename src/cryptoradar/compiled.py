"""Which modules setup.py compiles with mypyc, and whether this process runs them compiled.

The hot path (indicators and detectors, a few microseconds per bar) is compiled to C by mypyc when the
package is built; the `.py` sources stay beside the built `.so` files, and Python imports the `.so`
first. Two cases must run the source instead, and `prefer_source_when_needed` (called by the package's
`__init__`, before any of these modules is imported) arranges it:

- `CRYPTORADAR_PURE_PYTHON=1`: asked for (debugging, or comparing both builds, as a test does).
- A source checkout whose compiled modules are older than their sources (edited, or another branch
  checked out, after `pip install -e .`): the `.so` would silently run the old code. Then every compiled
  module runs from source, never a mix: compiled modules call each other's classes natively and cannot
  be paired with an interpreted one. A warning names the file and the fix.

This module must stay importable without anything but the standard library: setup.py reads
`COMPILED_MODULES` from it before the package is built.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

COMPILED_MODULES = (
    "cryptoradar.indicators.base",
    "cryptoradar.indicators.moving",
    "cryptoradar.indicators.oscillators",
    "cryptoradar.indicators.trend",
    "cryptoradar.indicators.volatility",
    "cryptoradar.indicators.vwap",
    "cryptoradar.detectors.base",
    "cryptoradar.detectors.confluence",
    "cryptoradar.detectors.engine",
    "cryptoradar.detectors.momentum",
    "cryptoradar.detectors.radar",
    "cryptoradar.detectors.windows",
)
"""Hot, pure modules only. Not `indicators.protocol` (a runtime-checkable Protocol cannot be compiled)
nor `detectors.confluence_state` (msgspec Structs must stay interpreted); see docs/decisions.md."""

PURE_PYTHON_ENV = "CRYPTORADAR_PURE_PYTHON"

_PACKAGE_ROOT = Path(__file__).resolve().parent.parent
_log = logging.getLogger(__name__)


def source_path(module: str, root: Path = _PACKAGE_ROOT) -> Path:
    return root.joinpath(*module.split(".")).with_suffix(".py")


def built_path(module: str, root: Path = _PACKAGE_ROOT) -> Path | None:
    """The module's compiled extension next to its source, if there is one."""
    source = source_path(module, root)
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        candidate = source.with_suffix(suffix)
        if candidate.exists():
            return candidate
    return None


def first_stale(modules: Sequence[str], root: Path = _PACKAGE_ROOT) -> Path | None:
    """The first source edited after its module was compiled, in a source checkout; else None.

    Only a checkout (setup.py two levels above the package) can be stale: an installed wheel brings
    sources and extensions together, and the order its files were unpacked in says nothing.
    """
    if not (root.parent / "setup.py").exists():
        return None
    for module in modules:
        built = built_path(module, root)
        source = source_path(module, root)
        if built is not None and source.stat().st_mtime > built.stat().st_mtime:
            return source
    return None


class _SourceFinder(importlib.abc.MetaPathFinder):
    """Finds the listed modules' `.py` sources ahead of their compiled extensions."""

    def __init__(self, modules: Sequence[str], root: Path) -> None:
        self._sources = {m: source_path(m, root) for m in modules}

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        source = self._sources.get(fullname)
        return None if source is None else importlib.util.spec_from_file_location(fullname, source)


def prefer_source_when_needed(root: Path = _PACKAGE_ROOT) -> None:
    if not any(built_path(m, root) for m in COMPILED_MODULES):
        return  # a pure-Python build: nothing to choose
    if os.environ.get(PURE_PYTHON_ENV, "").strip().lower() not in ("1", "true", "yes"):
        stale = first_stale(COMPILED_MODULES, root)
        if stale is None:
            return
        _log.warning(
            "%s changed after it was compiled: running every compiled module from source (slower). "
            "Rebuild with `pip install -e .` (or `make`), or delete the stale .so files.",
            stale,
        )
    sys.meta_path.insert(0, _SourceFinder(COMPILED_MODULES, root))


def compiled_in_use() -> bool:
    """True when the hot path in this process is the compiled one (imports the detectors to know)."""
    import cryptoradar.detectors.engine as engine

    return not (engine.__file__ or "").endswith(".py")
