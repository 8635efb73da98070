"""Simulator fixtures: a small, manual-clock simulator unless a test needs a running clock."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from cryptoradar.sim import SimOptions, Simulator

MANUAL = SimOptions(seed=3, acceleration=0.0, history_bars=120, intervals=("1m", "5m"), futures_symbols=20)


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(MANUAL) as s:
        yield s
