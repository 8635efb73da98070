"""Shared pieces of every config section: strict models and human error messages."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """Base of every config section: frozen, and unknown keys are errors (a typo never reads as empty)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
