"""How the long-running service starts, reports on itself, reloads and stops."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from cryptoradar.config.base import Section, require_at_most


class LifecycleConfig(Section):
    shutdown_deadline_s: float = Field(default=20.0, gt=0)
    """SIGTERM/SIGINT: stop sources, drain, flush the outbox and save state within this many seconds."""
    health_summary_interval_s: float = Field(default=300.0, gt=0)
    """One structured `health_summary` log event this often."""
    state_save_interval_s: float = Field(default=30.0, gt=0)
    """The last processed closed bar per series is also saved this often (a crash re-fetches less)."""
    bar_journal_path: Path | None = None
    """Optional JSON-lines file with one line per processed closed bar (an audit trail of what was seen)."""
    task_restart_initial_s: float = Field(default=0.5, gt=0)
    """A background task that dies is restarted after this long, doubling per death up to the maximum."""
    task_restart_max_s: float = Field(default=30.0, gt=0)
    """The longest pause between restarts."""
    task_restart_give_up_s: float = Field(default=300.0, gt=0)
    """A task still dying this long after its first death: the process exits non-zero, so systemd or
    Docker restarts it afresh. A restarted task that runs this long without dying has recovered."""
    pipeline_stall_s: float = Field(default=60.0, gt=0)
    """`/healthz` answers 503 when events are queued and the pipeline has handled none for this long."""

    @model_validator(mode="after")
    def _restart_range(self) -> LifecycleConfig:
        require_at_most(
            "lifecycle.task_restart_initial_s",
            self.task_restart_initial_s,
            "task_restart_max_s",
            self.task_restart_max_s,
        )
        require_at_most(
            "lifecycle.task_restart_max_s",
            self.task_restart_max_s,
            "task_restart_give_up_s",
            self.task_restart_give_up_s,
        )
        return self
