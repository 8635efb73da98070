"""The periodic health summary (every 5 minutes in the app): pure functions over plain inputs.

The app gathers the numbers; this module only counts, rates and formats them, so it is tested without I/O.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Mapping, Sequence

import msgspec

from cryptoradar.api.views import ConnectionView

_NS_PER_S = 1_000_000_000
HOUR_NS = 3_600 * _NS_PER_S


class DeliveryCounts(msgspec.Struct, frozen=True):
    sent: int
    failed: int


class SummaryInputs(msgspec.Struct, frozen=True):
    now_ns: int
    started_ns: int
    signals_by_direction: dict[str, int]
    """Signals since start by direction ("bullish", "bearish", "neutral")."""
    last_data_ns: int | None
    """Receive time of the newest market event; None before the first."""
    connections: list[ConnectionView]
    errors_last_hour: int
    deliveries: dict[str, DeliveryCounts]


class HealthSummary(msgspec.Struct, frozen=True):
    uptime_s: int
    signals: dict[str, int]
    last_data_age_s: float | None
    connections: dict[str, int]
    """Connection count per state."""
    errors_last_hour: int
    delivery_success: dict[str, float | None]
    """Per channel: sent / (sent + failed); None before any attempt."""

    def render(self) -> str:
        """One human line, e.g. for the console sink or a log message."""
        hours, rest = divmod(self.uptime_s, 3_600)
        signals = " ".join(f"{d} {n}" for d, n in sorted(self.signals.items())) or "none"
        data = "no data yet" if self.last_data_age_s is None else f"{self.last_data_age_s:.0f}s ago"
        conns = ", ".join(f"{n} {state}" for state, n in sorted(self.connections.items())) or "none"
        delivery = (
            ", ".join(
                f"{channel} {'n/a' if rate is None else f'{rate:.1%}'}"
                for channel, rate in sorted(self.delivery_success.items())
            )
            or "no channels"
        )
        return (
            f"up {hours}h{rest // 60:02d}m | signals: {signals} | last data {data} | "
            f"connections: {conns} | errors (1h): {self.errors_last_hour} | delivery: {delivery}"
        )


def health_summary(inputs: SummaryInputs) -> HealthSummary:
    age_s = None if inputs.last_data_ns is None else max(0, inputs.now_ns - inputs.last_data_ns) / _NS_PER_S
    return HealthSummary(
        uptime_s=max(0, inputs.now_ns - inputs.started_ns) // _NS_PER_S,
        signals=dict(inputs.signals_by_direction),
        last_data_age_s=age_s,
        connections=dict(Counter(str(c.state) for c in inputs.connections)),
        errors_last_hour=inputs.errors_last_hour,
        delivery_success={channel: success_rate(c) for channel, c in inputs.deliveries.items()},
    )


def success_rate(counts: DeliveryCounts) -> float | None:
    attempts = counts.sent + counts.failed
    return counts.sent / attempts if attempts else None


class ErrorWindow:
    """Timestamps of recent errors, to answer "how many in the last `window_ns`" (events arrive in order)."""

    def __init__(self, window_ns: int = HOUR_NS) -> None:
        self._window_ns = window_ns
        self._times_ns: deque[int] = deque()

    def record(self, ts_ns: int) -> None:
        self._times_ns.append(ts_ns)

    def count(self, now_ns: int) -> int:
        while self._times_ns and self._times_ns[0] <= now_ns - self._window_ns:
            self._times_ns.popleft()
        return len(self._times_ns)


def deliveries_from_counters(samples: Sequence[tuple[Mapping[str, str], float]]) -> dict[str, DeliveryCounts]:
    """Folds `cryptoradar_alerts_total{channel, outcome}` samples. "sent" succeeded, "failed" gave up;
    "retry" is neither (the delivery may still succeed) and is not counted."""
    sent: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    channels: set[str] = set()
    for labels, value in samples:
        channel = labels.get("channel", "")
        channels.add(channel)
        outcome = labels.get("outcome")
        if outcome == "sent":
            sent[channel] += int(value)
        elif outcome == "failed":
            failed[channel] += int(value)
    return {ch: DeliveryCounts(sent[ch], failed[ch]) for ch in sorted(channels)}
