"""The `Indicator` protocol, in its own module so that it stays interpreted.

Compiled by mypyc, a `Protocol` class becomes an ordinary class and `@runtime_checkable` then raises at
import. The indicator modules are compiled (see setup.py); this one must not be.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Indicator(Protocol):
    """What detectors rely on; `update` differs per input shape and is not part of it."""

    @property
    def value(self) -> float:
        """The latest output; `math.nan` until `ready`."""
        ...

    @property
    def ready(self) -> bool:
        """True once enough inputs were seen for `value` to be defined."""
        ...

    def reset(self) -> None:
        """Forget every input: back to the freshly constructed state."""
        ...
