"""Frames of the shared recorded sessions, read with the standard library only (independent of replay.py)."""

from __future__ import annotations

from pathlib import Path

from conftest import shared_data
from cryptoradar.core.metrics import REGISTRY


def session_frames(name: str) -> list[tuple[int, str]]:
    """(receive time ns, raw frame text) for every frame line of ../shared/data/ws/<name>."""
    path: Path = shared_data() / "ws" / name
    frames: list[tuple[int, str]] = []
    with path.open(encoding="utf-8") as f:
        next(f)  # the "<url> <-> <unix_s>" line
        for line in f:
            if not line.strip() or line.startswith(("https", "configuration:")):
                continue
            ts_text, raw = line.rstrip("\n").split(": ", 1)
            whole, frac = ts_text.split(".")
            frames.append((int(whole) * 10**9 + int(frac.ljust(9, "0")[:9]), raw))
    return frames


def parse_errors(market: str, kind: str | None = None) -> float:
    """Current PARSE_ERRORS for a market (one kind, or all kinds summed)."""
    total = 0.0
    for metric in REGISTRY.collect():
        if metric.name != "cryptoradar_parse_errors":
            continue
        for sample in metric.samples:
            labels = sample.labels
            if (
                sample.name.endswith("_total")
                and labels.get("market") == market
                and kind in (None, labels.get("kind"))
            ):
                total += sample.value
    return total
