"""Build hook: compile the hot modules with mypyc, or fall back to pure Python.

Everything else about the package is in pyproject.toml; setuptools runs this only for `ext_modules` and
`cmdclass`. Which modules are compiled, and how a process picks compiled or source at import, is in
`src/cryptoradar/compiled.py`.

- `CRYPTORADAR_PURE_PYTHON=1` builds no extensions.
- When mypyc cannot compile, or there is no C compiler, the build warns and installs pure Python (the
  same code, 3-4x slower on the detector path). `CRYPTORADAR_REQUIRE_MYPYC=1` makes that an error, as
  CI sets it, so a broken build cannot pass as a slow one.
"""

from __future__ import annotations

import os
import runpy
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent
SRC = ROOT / "src"

# mypyc type-checks what it compiles. The project's mypy config (strict, pydantic plugin) would need every
# runtime dependency in the isolated build environment; this needs only mypy: modules not installed there
# are typed `Any`, which changes nothing inside the compiled modules (they only call them).
MYPY_ARGS = [
    "--config-file",
    os.devnull,
    "--python-version",
    f"{sys.version_info.major}.{sys.version_info.minor}",
    "--ignore-missing-imports",
    "--follow-imports=silent",
]

# pip runs setup.py also to write metadata ("get requires", "prepare metadata"); compiling takes ~30 s.
_METADATA_ONLY = ("egg_info", "dist_info", "sdist")


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes")


def _warn(message: str) -> None:
    print(f"\n{'*' * 78}\n{message}\n{'*' * 78}\n", file=sys.stderr, flush=True)


def _compiled_modules() -> tuple[str, ...]:
    """`COMPILED_MODULES`, read from its module without importing the package (not built yet)."""
    return tuple(runpy.run_path(str(SRC / "cryptoradar" / "compiled.py"))["COMPILED_MODULES"])


class AllOrNothingBuildExt(build_ext):
    """Build every extension or none: one missing would leave the others calling into nothing."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:
            if _flag("CRYPTORADAR_REQUIRE_MYPYC"):
                raise
            for ext in self.extensions:
                for path in (Path(self.get_ext_fullpath(ext.name)), SRC / self.get_ext_filename(ext.name)):
                    path.unlink(missing_ok=True)
            _warn(f"cryptoradar: building the compiled modules failed ({exc!r}); installing pure Python.")


def ext_modules() -> list[object]:
    if _flag("CRYPTORADAR_PURE_PYTHON"):
        return []
    if any(a in _METADATA_ONLY for a in sys.argv[1:]):
        return []
    try:
        from mypyc.build import mypycify

        sources = [str(Path("src", *m.split(".")).with_suffix(".py")) for m in _compiled_modules()]
        extensions = list(mypycify([*MYPY_ARGS, *sources], opt_level="3", target_dir="build/mypyc"))
    except BaseException as exc:  # mypy reports type errors by SystemExit
        if _flag("CRYPTORADAR_REQUIRE_MYPYC") or isinstance(exc, KeyboardInterrupt):
            raise
        _warn(f"cryptoradar: mypyc could not compile ({exc!r}); installing pure Python.")
        return []
    if os.name != "nt":
        # Bit-identical floats: compilers may fuse `a * b + c` into one FMA instruction (aarch64, or x86-64
        # with -march=native), rounding once where the interpreter rounds twice.
        for ext in extensions:
            ext.extra_compile_args.append("-ffp-contract=off")
    return extensions


setup(ext_modules=ext_modules(), cmdclass={"build_ext": AllOrNothingBuildExt})
