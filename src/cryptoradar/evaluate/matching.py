"""Matching signals to ground-truth labels, and precision / recall from the matches.

Rule: a detection matches a label when

1. the signal kind corresponds to the label kind (`LABEL_KINDS`),
2. the symbols are equal (a `momentum_group` signal matches through any of its member symbols: it is one
   alert, so it counts once, as a hit when at least one member is a labelled breakout),
3. the directions agree (bullish = "up", bearish = "down"; a neutral signal matches nothing), and
4. the signal's window `[window_start_ms, window_end_ms]` overlaps the label's window widened by the
   detector's tolerance on both sides (`TOLERANCE_MS`: one primary bar for momentum, one 5m bar for
   confluence, one radar window for the futures radar).

Precision = matched signals / signals; recall = labels matched by at least one signal / labels. Both are
counted per (detector, kind) and per detector (all its kinds together). `symbol_precision` counts every
member of a group signal as its own claim (matched members / members), which shows the background symbols
that rode along in a group; for every other kind it equals `precision`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptoradar.events import Direction, Signal
from cryptoradar.sim.scenarios import Label, LabelKind

LABEL_KINDS: dict[str, frozenset[LabelKind]] = {
    "momentum": frozenset({LabelKind.MOMENTUM_BREAKOUT}),
    "momentum_group": frozenset({LabelKind.MOMENTUM_BREAKOUT}),
    "confluence": frozenset({LabelKind.EMA_CROSS_CONFLUENCE}),
    "large_liquidation": frozenset({LabelKind.LIQUIDATION_CASCADE}),
    "liquidation_storm": frozenset({LabelKind.LIQUIDATION_CASCADE}),
    "whale_trade": frozenset({LabelKind.WHALE_CLUSTER}),
    "whale_cluster": frozenset({LabelKind.WHALE_CLUSTER}),
    "radar": frozenset({LabelKind.LIQUIDATION_CASCADE, LabelKind.WHALE_CLUSTER}),
}
"""Which label kinds each signal kind is meant to find."""

DETECTOR_KINDS: dict[str, tuple[str, ...]] = {
    "momentum": ("momentum", "momentum_group"),
    "confluence": ("confluence",),
    "futures_radar": ("large_liquidation", "whale_trade", "liquidation_storm", "whale_cluster", "radar"),
}
"""Every detector and the kinds it emits, in report order."""

TOLERANCE_MS: dict[str, int] = {"momentum": 900_000, "confluence": 300_000, "futures_radar": 30_000}

_DIRECTION = {Direction.BULLISH: "up", Direction.BEARISH: "down"}


@dataclass(frozen=True, slots=True)
class Detection:
    """What matching needs of one signal; `symbols` holds every member of a group."""

    detector: str
    kind: str
    symbols: tuple[str, ...]
    direction: Direction
    start_ms: int
    end_ms: int


@dataclass(frozen=True, slots=True)
class Counts:
    """Raw counts behind one precision / recall pair (they add up across seeds)."""

    signals: int = 0
    matched_signals: int = 0
    labels: int = 0
    found_labels: int = 0
    symbols: int = 0
    matched_symbols: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.signals + other.signals,
            self.matched_signals + other.matched_signals,
            self.labels + other.labels,
            self.found_labels + other.found_labels,
            self.symbols + other.symbols,
            self.matched_symbols + other.matched_symbols,
        )

    @property
    def precision(self) -> float:
        """1.0 when the detector stayed silent (no signal can be wrong)."""
        return self.matched_signals / self.signals if self.signals else 1.0

    @property
    def symbol_precision(self) -> float:
        return self.matched_symbols / self.symbols if self.symbols else 1.0

    @property
    def recall(self) -> float:
        """1.0 when there was nothing to find."""
        return self.found_labels / self.labels if self.labels else 1.0


@dataclass(frozen=True, slots=True)
class MatchResult:
    """Counts keyed by (detector, kind), with kind "*" for the detector as a whole; plus what went wrong."""

    counts: dict[tuple[str, str], Counts]
    false_positives: tuple[Detection, ...]
    missed: tuple[tuple[str, Label], ...]
    """(detector, label) for every label a detector should have found and did not."""


def detections(signals: Iterable[Signal]) -> list[Detection]:
    return [
        Detection(
            s.detector, s.kind, s.symbols or (s.symbol,), s.direction, s.window_start_ms, s.window_end_ms
        )
        for s in signals
    ]


def _matches(d: Detection, label: Label) -> bool:
    tolerance_ms = TOLERANCE_MS.get(d.detector, 0)
    return (
        label.kind in LABEL_KINDS.get(d.kind, frozenset())
        and _DIRECTION.get(d.direction) == label.direction
        and d.start_ms <= label.end_ms + tolerance_ms
        and d.end_ms >= label.start_ms - tolerance_ms
    )


def match(signals: Iterable[Signal], labels: Sequence[Label]) -> MatchResult:
    """Counts for every detector and kind in `DETECTOR_KINDS` (zeros where nothing fired or was due)."""
    by_symbol: dict[str, list[Label]] = defaultdict(list)
    for label in labels:
        by_symbol[label.symbol].append(label)
    found: dict[tuple[str, str], set[int]] = defaultdict(set)
    tally: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    false_positives: list[Detection] = []
    for d in detections(signals):
        hits_by_symbol = [
            [id(lb) for lb in by_symbol.get(symbol, ()) if _matches(d, lb)] for symbol in d.symbols
        ]
        hits = [h for symbol_hits in hits_by_symbol for h in symbol_hits]
        for key in ((d.detector, d.kind), (d.detector, "*")):
            t = tally[key]
            t[0] += 1
            t[1] += bool(hits)
            t[2] += len(d.symbols)
            t[3] += sum(bool(h) for h in hits_by_symbol)
            found[key].update(hits)
        if not hits:
            false_positives.append(d)
    counts: dict[tuple[str, str], Counts] = {}
    missed: list[tuple[str, Label]] = []
    for detector, kinds in DETECTOR_KINDS.items():
        for kind in (*kinds, "*"):
            wanted = LABEL_KINDS[kind] if kind != "*" else frozenset().union(*(LABEL_KINDS[k] for k in kinds))
            due = [lb for lb in labels if lb.kind in wanted]
            hit = found[(detector, kind)]
            signals_, matched_, symbols_, matched_symbols_ = tally[(detector, kind)]
            counts[(detector, kind)] = Counts(
                signals_, matched_, len(due), sum(id(lb) in hit for lb in due), symbols_, matched_symbols_
            )
            if kind == "*":
                missed += [(detector, lb) for lb in due if id(lb) not in hit]
    return MatchResult(counts, tuple(false_positives), tuple(missed))
