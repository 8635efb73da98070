"""Metric names shared across layers, defined once on one registry.

A module that needs a metric nobody else touches may define it next to its code on `REGISTRY`.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

BUILD_INFO = Gauge(
    "cryptoradar_build_info",
    "1, labelled with the version and whether the indicators and detectors run compiled (mypyc)",
    ["version", "compiled"],
    registry=REGISTRY,
)
FRAMES = Counter(
    "cryptoradar_frames_total", "WebSocket frames received", ["market", "stream_type"], registry=REGISTRY
)
PARSE_ERRORS = Counter(
    "cryptoradar_parse_errors_total",
    "Frames dropped as bad input, by kind",
    ["market", "kind"],
    registry=REGISTRY,
)
RECONNECTS = Counter(
    "cryptoradar_reconnects_total", "WebSocket reconnects", ["source", "reason"], registry=REGISTRY
)
CONNECTION_STATE = Gauge(
    "cryptoradar_connection_state",
    "1 for the state each connection is in now",
    ["source", "connection", "state"],
    registry=REGISTRY,
)
REST_WEIGHT_USED = Gauge(
    "cryptoradar_rest_weight_used", "Last X-MBX-USED-WEIGHT-1M seen", ["market"], registry=REGISTRY
)
REST_REQUESTS = Counter(
    "cryptoradar_rest_requests_total",
    "REST requests by outcome",
    ["market", "endpoint", "status"],
    registry=REGISTRY,
)
BARS_CLOSED = Counter(
    "cryptoradar_bars_closed_total",
    "Closed bars emitted (exactly once each)",
    ["market", "interval", "via"],
    registry=REGISTRY,
)
BARS_DROPPED = Counter(
    "cryptoradar_bars_dropped_total",
    "Kline frames dropped as duplicate, stale or out of order",
    ["market", "reason"],
    registry=REGISTRY,
)
QUEUE_DEPTH = Gauge(
    "cryptoradar_queue_depth", "Items waiting in a bounded queue", ["queue"], registry=REGISTRY
)
QUEUE_DROPPED = Counter(
    "cryptoradar_queue_dropped_total",
    "Items dropped by a queue's overflow policy",
    ["queue", "policy"],
    registry=REGISTRY,
)
SIGNALS = Counter(
    "cryptoradar_signals_total", "Signals emitted by detectors", ["detector", "kind"], registry=REGISTRY
)
HISTORY_SIGNALS = Counter(
    "cryptoradar_history_signals_total",
    "Signals about bars that closed before the radar watched their series (warm-up): not alerted",
    ["detector"],
    registry=REGISTRY,
)
ALERTS_SUPPRESSED = Counter(
    "cryptoradar_alerts_suppressed_total",
    "Signals that did not become a delivered alert, by detector and reason (alerts.rules.Suppression)",
    ["detector", "reason"],
    registry=REGISTRY,
)
ALERTS = Counter(
    "cryptoradar_alerts_total",
    "Alert deliveries by channel and outcome",
    ["channel", "outcome"],
    registry=REGISTRY,
)
TASK_FAILURES = Counter(
    "cryptoradar_task_failures_total",
    "Supervised background tasks that died with an error (each is restarted or, at last, given up)",
    ["task"],
    registry=REGISTRY,
)
PIPELINE_ERRORS = Counter(
    "cryptoradar_pipeline_errors_total",
    "Errors while handling one event or signal, by stage, error type and outcome (retried or skipped)",
    ["stage", "error", "outcome"],
    registry=REGISTRY,
)
EVENT_TO_SIGNAL_S = Histogram(
    "cryptoradar_event_to_signal_seconds",
    "Exchange event time to signal emitted",
    ["detector"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
BAR_CLOSE_TO_DELIVERED_S = Histogram(
    "cryptoradar_bar_close_to_alert_delivered_seconds",
    "Bar close time to alert delivered on a channel",
    ["channel"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=REGISTRY,
)
