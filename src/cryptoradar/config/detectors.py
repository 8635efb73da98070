"""Detector thresholds."""

from __future__ import annotations

from cryptoradar.config.base import Section


class DetectorsConfig(Section):
    pass
