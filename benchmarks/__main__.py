"""Run every benchmark module, or the ones named: `python -m benchmarks [name ...]` (e.g. `parse`)."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time

import benchmarks


def available() -> list[str]:
    """Names of the `bench_<name>` modules in this package, sorted."""
    return sorted(
        m.name.removeprefix("bench_")
        for m in pkgutil.iter_modules(benchmarks.__path__)
        if m.name.startswith("bench_")
    )


def main(argv: list[str]) -> int:
    names = available()
    selected = argv or names
    unknown = [n for n in selected if n not in names]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; available: {names}", file=sys.stderr)
        return 2
    for name in selected:
        print(f"== bench_{name} ==", flush=True)
        started_s = time.perf_counter()
        # The modules parse their own options from sys.argv: run each on its defaults, not on our names.
        sys.argv = [f"bench_{name}"]
        importlib.import_module(f"benchmarks.bench_{name}").main()
        print(f"(bench_{name} took {time.perf_counter() - started_s:.1f}s)\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
