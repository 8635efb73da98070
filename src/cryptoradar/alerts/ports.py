"""The durable store the alert pipeline needs, as a Protocol that storage backends satisfy structurally.

Contract (the outbox): `insert_alert` writes the alert, one pending delivery per channel and the
cooldown in ONE transaction before anything is sent; `mark_sent` records success in its own commit.
A delivery is therefore sent at most once more than recorded: only a crash between the remote
accepting and our commit repeats it. Times are unix nanoseconds unless a name says otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from cryptoradar.events import Signal


class AlertRow(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def signature(self) -> str: ...
    @property
    def created_at_ns(self) -> int: ...
    @property
    def signal(self) -> Signal: ...


class PendingDeliveryRow(Protocol):
    @property
    def alert_id(self) -> int: ...
    @property
    def channel(self) -> str: ...
    @property
    def attempts(self) -> int: ...
    @property
    def created_at_ns(self) -> int: ...
    @property
    def signal(self) -> Signal: ...
    @property
    def rerouted_from(self) -> str | None:
        """The channel whose failed delivery this one replaces (channel failover), else None."""
        ...

    @property
    def reroute_reason(self) -> str | None: ...


class FailedDeliveryRow(Protocol):
    @property
    def alert_id(self) -> int: ...
    @property
    def channel(self) -> str: ...
    @property
    def reason(self) -> str: ...
    @property
    def signal(self) -> Signal: ...
    @property
    def rerouted_to(self) -> tuple[str, ...]: ...


class DeliveryRow(Protocol):
    @property
    def channel(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def attempts(self) -> int: ...
    @property
    def last_error(self) -> str | None: ...
    @property
    def sent_at_ns(self) -> int | None: ...


class CooldownRow(Protocol):
    @property
    def detector(self) -> str: ...
    @property
    def symbol(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def last_event_ns(self) -> int: ...
    @property
    def until_ns(self) -> int: ...
    @property
    def last_entry_price(self) -> float | None: ...
    @property
    def last_direction(self) -> str: ...


class SilenceRow(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def matchers(self) -> tuple[str, ...]: ...
    @property
    def until_ns(self) -> int: ...
    @property
    def created_by(self) -> str: ...
    @property
    def reason(self) -> str: ...
    @property
    def created_at_ns(self) -> int: ...


class AlertStore(Protocol):
    async def open(self) -> None:
        """Connect and migrate. Idempotent on an existing database."""
        ...

    async def close(self) -> None: ...

    async def insert_alert(
        self,
        signal: Signal,
        *,
        signature: str,
        channels: Sequence[str],
        created_at_ns: int,
        cooldown_until_ns: int | None,
        entry_price: float | None,
    ) -> int | None:
        """Persist the alert, a pending delivery per channel and (when `cooldown_until_ns` is set) the
        cooldown of (detector, symbol, kind), atomically. Returns the alert id, or None when an alert
        with this `signature` exists (then nothing is written)."""
        ...

    async def mark_sent(self, channel: str, alert_ids: Sequence[int], sent_at_ns: int) -> None:
        """Record that `channel` accepted these alerts (one commit)."""
        ...

    async def mark_retry(
        self, channel: str, alert_ids: Sequence[int], error: str, next_attempt_at_ns: int
    ) -> None:
        """Count one failed attempt on each of these deliveries and keep them pending."""
        ...

    async def mark_failed(self, channel: str, error: str) -> int:
        """Fail every pending delivery of `channel`; returns how many."""
        ...

    async def fail_over(
        self, channel: str, reason: str, fallbacks: Sequence[str], now_ns: int
    ) -> tuple[int, Sequence[PendingDeliveryRow]]:
        """Channel failover, atomically: every pending delivery of `channel` becomes `failed` with `reason`,
        and its alert gets a pending delivery on each of `fallbacks` (rerouted from `channel`) that it has
        no delivery on yet: one delivery per alert and channel stays the rule. Returns how many failed
        and the new deliveries; with no fallbacks this is `mark_failed`."""
        ...

    async def failed_deliveries(self, limit: int = 100) -> Sequence[FailedDeliveryRow]:
        """Failed deliveries, newest first, with the channels each was rerouted to."""
        ...

    async def mark_retracted(self, channel: str, alert_ids: Sequence[int], reason: str) -> int:
        """Close these pending deliveries for good without sending them (their alert was retracted):
        state `failed` with `reason` as the last error, so a restart does not resume them and the history
        shows why. Deliveries no longer pending are left alone. Returns how many were closed."""
        ...

    async def pending_deliveries(self) -> Sequence[PendingDeliveryRow]:
        """Every pending delivery with its alert, oldest first (what a restart resumes)."""
        ...

    async def find_alert(self, signature: str) -> AlertRow | None: ...

    async def deliveries(self, alert_id: int) -> Sequence[DeliveryRow]: ...

    async def list_alerts(
        self,
        *,
        detector: str | None = None,
        kind: str | None = None,
        symbol: str | None = None,
        severity: str | None = None,
        since_ns: int | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> Sequence[AlertRow]:
        """Newest first; page with `before_id` = the last id of the previous page."""
        ...

    async def load_cooldowns(self) -> Sequence[CooldownRow]: ...

    async def add_silence(
        self, matchers: Sequence[str], *, until_ns: int, created_by: str, reason: str, created_at_ns: int
    ) -> int: ...

    async def remove_silence(self, silence_id: int) -> bool: ...

    async def list_silences(self) -> Sequence[SilenceRow]: ...

    async def get_state(self, key: str) -> str | None: ...

    async def set_state(self, key: str, value: str) -> None: ...

    async def purge(self, *, alerts_before_ns: int, now_ns: int) -> int:
        """Delete alerts created before `alerts_before_ns` that have no pending delivery, and silences and
        cooldowns that ended before `now_ns`. Returns the number of alerts deleted."""
        ...
