"""SIGHUP reload: which changed settings apply live, which need a restart, and the detector rebuild.

Applied live: `detectors.*` (thresholds), `alerts.*` (routes, templates, cooldowns, channels; silences
and cooldowns are re-read from the store) and `log.*`. Everything else (endpoints, universe, storage,
api bind, simulator, wallets, lifecycle) is refused: the whole reload is then rejected, and the log line
names every key that needs a restart, so a half-applied config never runs.

Detectors keep their state across a reload: a detector whose section did not change is the same object;
one whose thresholds changed is rebuilt with the new config and warmed by replaying the recent closed
bars the app keeps (signals from the replay are discarded), so its indicators are ready for the next bar.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import msgspec
from pydantic import BaseModel, SecretBytes, SecretStr

from cryptoradar.config import Settings
from cryptoradar.detectors.engine import DetectorSet
from cryptoradar.events import Bar, Signal

LIVE_SECTIONS = frozenset({"detectors", "alerts", "log"})
"""Top-level sections a reload applies without restarting."""


class ReloadPlan(msgspec.Struct, frozen=True):
    applied: list[str]
    """Changed keys (dotted) that apply live."""
    needs_restart: list[str]
    """Changed keys that only a restart applies; any of them rejects the reload."""

    @property
    def accepted(self) -> bool:
        return not self.needs_restart

    def sections(self) -> set[str]:
        return {key.split(".", 1)[0] for key in self.applied}


def changed_keys(old: BaseModel, new: BaseModel) -> list[str]:
    """Dotted paths of every leaf whose value differs (secrets compared by value, never returned)."""
    out: list[str] = []
    _diff(old.model_dump(mode="python"), new.model_dump(mode="python"), "", out)
    return sorted(out)


def _diff(old: object, new: object, path: str, out: list[str]) -> None:
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in sorted(set(old) | set(new), key=str):
            child = f"{path}.{key}" if path else str(key)
            if key not in old or key not in new:
                out.append(child)
            else:
                _diff(old[key], new[key], child, out)
    elif _plain(old) != _plain(new):
        out.append(path)


def _plain(value: object) -> object:
    if isinstance(value, SecretStr | SecretBytes):
        return ("secret", value.get_secret_value())
    if isinstance(value, list | tuple):
        return tuple(_plain(v) for v in value)
    return value


def plan_reload(old: Settings, new: Settings) -> ReloadPlan:
    keys = changed_keys(old, new)
    applied = [k for k in keys if k.split(".", 1)[0] in LIVE_SECTIONS]
    return ReloadPlan(applied, [k for k in keys if k not in applied])


def rebuild_detectors(
    current: DetectorSet, old: Settings, new: Settings, history: Iterable[Bar]
) -> tuple[DetectorSet, list[Signal]]:
    """A detector set for `new.detectors` reusing every unchanged detector of `current`.

    Returns the new set and the signals the replaced momentum detector still held (released now, so
    nothing detected under the old thresholds is lost). `history` (closed bars, oldest first) warms the
    rebuilt bar detectors; what they would signal on it is discarded (it is the past).
    """
    fresh = DetectorSet(new.detectors)
    held: list[Signal] = []
    same = old.detectors
    if same.radar == new.detectors.radar:
        fresh.radar = current.radar
    if same.confluence == new.detectors.confluence:
        fresh.confluence = current.confluence
    if same.momentum == new.detectors.momentum:
        fresh.momentum = current.momentum
    elif current.momentum is not None:
        held = current.momentum.flush(math.inf)
    warm(
        fresh,
        history,
        momentum=fresh.momentum is not current.momentum,
        confluence=fresh.confluence is not current.confluence,
    )
    return fresh, held


def warm(
    detectors: DetectorSet, history: Iterable[Bar], *, momentum: bool = True, confluence: bool = True
) -> None:
    """Feed past closed bars (oldest first) to the chosen bar detectors so their indicators are ready;
    whatever they would signal on the past is discarded."""
    warm_momentum = detectors.momentum if momentum else None
    warm_confluence = detectors.confluence if confluence else None
    if warm_momentum is None and warm_confluence is None:
        return
    for bar in history:
        if warm_momentum is not None:
            warm_momentum.on_bar(bar)
        if warm_confluence is not None:
            warm_confluence.on_bar(bar)
    if warm_momentum is not None:
        warm_momentum.flush(math.inf)
