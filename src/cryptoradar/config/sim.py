"""The built-in exchange simulator."""

from __future__ import annotations

from pydantic import Field

from cryptoradar.config.base import Section


class SimConfig(Section):
    host: str = "127.0.0.1"
    spot_port: int = Field(default=0, ge=0, le=65535)
    """0 picks a free port."""
    futures_port: int = Field(default=0, ge=0, le=65535)
    seed: int = 7
    symbols: int = Field(default=300, ge=1, le=5000)
    acceleration: float = Field(default=60.0, gt=0)
    """Simulated seconds per wall second: at 60, a 1m bar closes every wall second."""
    futures_symbols: int = Field(default=50, ge=1, le=1000)
    scenarios: bool = True
    """Inject labelled scenarios (breakouts, EMA-cross confluence, liquidation cascades, whale clusters)."""
    ground_truth_path: str | None = None
    """Where scenario labels are written as JSONL; None keeps them in memory only."""
