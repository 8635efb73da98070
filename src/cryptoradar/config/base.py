"""Shared pieces of every config section: strict models and human error messages."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """Base of every config section: frozen, and unknown keys are errors (a typo never reads as empty)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def require_at_most(lower_key: str, lower: float, upper_key: str, upper: float) -> None:
    """Cross-field rule minimum <= maximum, with the message naming both keys and the fix."""
    if lower > upper:
        raise ValueError(
            f"{lower_key} ({lower:g}) exceeds {upper_key} ({upper:g}); lower the first or raise the second"
        )
