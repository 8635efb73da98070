"""Pieces every detector shares: the drop counter, time conversions, condition and severity helpers."""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from prometheus_client import Counter

from cryptoradar.core.metrics import REGISTRY
from cryptoradar.events import Condition, Severity

INPUTS_DROPPED = Counter(
    "cryptoradar_detector_inputs_dropped_total",
    "Events a detector refused as bad input (non-finite or non-positive values, stale or duplicate bars)",
    ["detector", "reason"],
    registry=REGISTRY,
)

NS_PER_MS: Final = 1_000_000
NS_PER_S: Final = 1_000_000_000
NEVER_NS: Final = -(1 << 62)
"""A timestamp older than any event: 'no previous emission'."""


class DropReason(StrEnum):
    BAD_VALUE = "bad_value"
    STALE_BAR = "stale_bar"


def seconds_to_ns(seconds: float) -> int:
    return round(seconds * NS_PER_S)


def passed(name: str, value: int | float, op: str, threshold: int | float) -> Condition:
    """A condition that held (detectors only emit when every gate condition held).

    `int | float` and not `float`: compiled by mypyc, a `float` parameter turns an int argument into a
    float, and counts (`group_size`, `factors_met`, ...) must stay ints in the signal (JSON `5`, not `5.0`).
    """
    return Condition(name=name, value=value, op=op, threshold=threshold, passed=True)


SEVERITY_BY_RANK = (Severity.INFO, Severity.WARNING, Severity.HIGH, Severity.CRITICAL)
