"""Composition root: the only package that sees every layer."""

from cryptoradar.app.radar import (
    PipelineStats,
    Radar,
    settings_for,
    settings_for_simulator,
    sim_options,
)

__all__ = ["PipelineStats", "Radar", "settings_for", "settings_for_simulator", "sim_options"]
