"""Alert pipeline, routing and channels."""

from __future__ import annotations

from cryptoradar.config.base import Section


class AlertsConfig(Section):
    pass
