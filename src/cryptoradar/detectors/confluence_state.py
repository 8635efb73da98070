"""The confluence detector's repeat-suppression memory, as msgspec Structs.

In their own module so that they stay interpreted: a Struct declared in a module compiled by mypyc is
built from erased annotations (`tuple[DedupEntry, ...]` becomes `tuple`), and msgspec would then decode
`entries` as dicts. `confluence.py` is compiled (see setup.py); this module must not be.
"""

from __future__ import annotations

import msgspec

from cryptoradar.events import Direction


class DedupEntry(msgspec.Struct, frozen=True):
    """The last signal of one (symbol, timeframe, direction)."""

    symbol: str
    timeframe: str
    direction: Direction
    ts_ms: int
    entry: float


class ConfluenceState(msgspec.Struct, frozen=True):
    """The detector's repeat-suppression memory as plain data (persist it, `restore` it later)."""

    entries: tuple[DedupEntry, ...] = ()
