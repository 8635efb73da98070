"""The HTTP edge: health, metrics, JSON API, live events and the dashboard.

The app builds an `ApiServer` from `ApiConfig` plus objects satisfying the `api.ports` protocols, and
publishes alerts/signals into a `LiveHub`.
"""

from cryptoradar.api.live import LiveHub, LiveKind
from cryptoradar.api.monitor import EventLoopLagMonitor
from cryptoradar.api.ports import AlertQuery, AlertsView, HealthSource, LiveFeed, MarketView
from cryptoradar.api.readiness import StandardHealth
from cryptoradar.api.security import requires_token, secret_values
from cryptoradar.api.server import ApiServer
from cryptoradar.api.summary import ErrorWindow, HealthSummary, SummaryInputs, health_summary

__all__ = [
    "AlertQuery",
    "AlertsView",
    "ApiServer",
    "ErrorWindow",
    "EventLoopLagMonitor",
    "HealthSource",
    "HealthSummary",
    "LiveFeed",
    "LiveHub",
    "LiveKind",
    "MarketView",
    "StandardHealth",
    "SummaryInputs",
    "health_summary",
    "requires_token",
    "secret_values",
]
