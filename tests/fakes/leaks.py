"""Find a secret (a canary) anywhere it must never appear: exception texts, their causes and contexts as
a logged traceback would print them, and captured log output."""

from __future__ import annotations

import traceback
from collections.abc import Iterable


def leaks(canary: str, *, errors: Iterable[BaseException] = (), texts: Iterable[str] = ()) -> list[str]:
    """Descriptions of every place `canary` appears; empty when it leaked nowhere."""
    found = []
    for error in errors:
        rendered = "".join(traceback.format_exception(error)) + repr(error)
        if canary in rendered:
            found.append(f"{type(error).__name__}: {error}")
    found += [f"log text: {text[:200]!r}" for text in texts if canary in text]
    return found
