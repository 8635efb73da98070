"""Number and timestamp rules shared by the frame parser, the REST decoders and the archive importer.

Stream payloads are range-checked by msgspec while decoding (`wire.Price` / `wire.Amount`); REST and
archive rows inline `0.0 <= x < INF` (which rejects NaN, ±inf and negatives in one comparison chain). The
kind functions here only run once a check has failed, to say why.
"""

from __future__ import annotations

import re

import msgspec

INF = float("inf")
US_THRESHOLD = 10**15
"""Epoch values at or above this are microseconds (1e15 ms would be the year 33658)."""


class WireFormatError(ValueError):
    """A body that cannot be decoded at all; `kind` uses the same vocabulary as `ParsedFrame.error_kind`."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind


def ns_from_venue(ts: int) -> int:
    """A venue timestamp in ms, or µs when >= 1e15, as ns."""
    return ts * 1_000_000 if ts < US_THRESHOLD else ts * 1_000


def ms_from_venue(ts: int) -> int:
    """A venue timestamp in ms, or µs when >= 1e15, as ms."""
    return ts if ts < US_THRESHOLD else ts // 1_000


def number_kind(*values: float) -> str:
    """Why numbers failed a range check: "nan", "inf", "negative", or "zero" where zero is not allowed."""
    for v in values:
        if v != v:
            return "nan"
        if v in (INF, -INF):
            return "inf"
    return "negative" if any(v < 0.0 for v in values) else "zero"


def validation_kind(exc: msgspec.ValidationError, doc: bytes | str | msgspec.Raw | None = None) -> str:
    """Map a msgspec validation error to an error kind.

    A failed range constraint (see `wire.Price` / `wire.Amount`) says only which bound failed, so the
    offending value is looked up in `doc` (the JSON that was decoded) to tell "nan", "inf", "negative"
    and "zero" apart. This runs on the error path only.
    """
    text = str(exc)
    if "missing required field" in text:
        return "missing_field"
    if text.startswith("Expected `float` <="):
        return "inf"  # only +inf exceeds the largest finite float
    if text.startswith("Expected `float` >"):
        value = _value_at(doc, text)
        return number_kind(value) if value is not None else "bad_number"
    if "Expected `float`" in text or "Number out of range" in text:
        return "bad_number"
    if text.startswith("Expected `int` >"):
        return "bad_time"  # only times carry a lower bound (`wire.Time`, `wire.OptionalTime`)
    if "Invalid enum value" in text or "Invalid value" in text:
        return "bad_enum"
    return "wrong_type"


_PATH = re.compile(r" - at `\$([^`]*)`$")
_STEP = re.compile(r"\.([^.\[]+)|\[(\d+)\]")


def _value_at(doc: bytes | str | msgspec.Raw | None, error_text: str) -> float | None:
    """The number at the error's `$.a.b[0].c` path in `doc`, or None if it cannot be found."""
    match = _PATH.search(error_text)
    if doc is None or match is None:
        return None
    try:
        node: object = msgspec.json.decode(doc)
        for key, index in _STEP.findall(match[1]):
            if key and isinstance(node, dict):
                node = node[key]
            elif index and isinstance(node, list):
                node = node[int(index)]
            else:
                return None
        return float(node) if isinstance(node, str | int | float) else None
    except (msgspec.DecodeError, KeyError, IndexError, ValueError):
        return None
