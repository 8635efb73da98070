"""How the long-running service starts, reports on itself, reloads and stops."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from cryptoradar.config.base import Section


class LifecycleConfig(Section):
    shutdown_deadline_s: float = Field(default=20.0, gt=0)
    """SIGTERM/SIGINT: stop sources, drain, flush the outbox and save state within this many seconds."""
    health_summary_interval_s: float = Field(default=300.0, gt=0)
    """One structured `health_summary` log event this often."""
    state_save_interval_s: float = Field(default=30.0, gt=0)
    """The last processed closed bar per series is also saved this often (a crash re-fetches less)."""
    bar_journal_path: Path | None = None
    """Optional JSON-lines file with one line per processed closed bar (an audit trail of what was seen)."""
