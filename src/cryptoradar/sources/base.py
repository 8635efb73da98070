"""The reconnect policy, written once: connect -> subscribe -> read, capped backoff with jitter.

Pieces every streaming source shares:

- `TokenBucket`: paces connect attempts (shared by all connections of a market) and control messages
  (one per connection). Time is the event loop's monotonic clock: pacing is about wall seconds.
- `ConnectionStateMachine`: DISCONNECTED -> CONNECTING -> CONNECTED -> RECONNECTING -> CONNECTING ... with
  FAILED after `fail_after_attempts` consecutive failures (retrying continues; FAILED is what an operator
  sees). Every transition updates `CONNECTION_STATE` and is published as a `FeedStatus`.
- `run_reconnecting()`: the loop around one session coroutine. A session connects, subscribes, calls
  `ready()` after a good subscribe (which resets the backoff) and reads until the connection ends. Any
  exception ends the session; the loop sleeps the backoff delay and starts a new one. `CancelledError`
  always propagates.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from cryptoradar.core.backoff import Backoff
from cryptoradar.core.clock import Clock
from cryptoradar.core.errors import PermanentError
from cryptoradar.core.metrics import CONNECTION_STATE, RECONNECTS
from cryptoradar.events import ConnectionState, FeedStatus, StatusLevel

__all__ = [
    "ConnectionLost",
    "ConnectionStateMachine",
    "InvalidTransition",
    "ReconnectPolicy",
    "Session",
    "TokenBucket",
    "run_reconnecting",
]

log = structlog.get_logger(__name__)


class TokenBucket:
    """`rate_per_s` tokens per second, at most `burst` stored. `acquire()` waits for a token."""

    def __init__(self, rate_per_s: float, burst: float) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("token bucket needs rate_per_s > 0 and burst >= 1")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._tokens = burst
        self._updated_s: float | None = None
        self._lock = asyncio.Lock()

    @classmethod
    def at_most(cls, count: int, window_s: float) -> TokenBucket:
        """A bucket that never admits more than `count` acquisitions in any `window_s` (wall seconds).

        A bucket of burst b and rate r admits at most b + r x T in a window T, so r = (count - b) / window_s:
        the burst lets a few through at once (start-up), the rate covers the rest of the window.
        """
        burst = max(1, min(20, count // 10))
        return cls(max(count - burst, 1) / window_s, burst=burst)

    def _refill(self, now_s: float) -> None:
        if self._updated_s is not None:
            self._tokens = min(self.burst, self._tokens + (now_s - self._updated_s) * self.rate_per_s)
        self._updated_s = now_s

    async def acquire(self) -> None:
        """Take one token, waiting (in FIFO order) until one is available."""
        loop = asyncio.get_running_loop()
        async with self._lock:
            self._refill(loop.time())
            if self._tokens < 1:
                await asyncio.sleep((1 - self._tokens) / self.rate_per_s)
                self._refill(loop.time())
            self._tokens -= 1


class ConnectionLost(Exception):
    """A session ended for a named reason (`stale`, `server_shutdown`, `closed`, ...)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_ALLOWED: dict[ConnectionState, frozenset[ConnectionState]] = {
    ConnectionState.DISCONNECTED: frozenset({ConnectionState.CONNECTING}),
    ConnectionState.CONNECTING: frozenset(
        {ConnectionState.CONNECTED, ConnectionState.RECONNECTING, ConnectionState.FAILED}
    ),
    ConnectionState.CONNECTED: frozenset({ConnectionState.RECONNECTING, ConnectionState.FAILED}),
    ConnectionState.RECONNECTING: frozenset({ConnectionState.CONNECTING, ConnectionState.FAILED}),
    ConnectionState.FAILED: frozenset({ConnectionState.CONNECTING}),
}


class InvalidTransition(RuntimeError):
    pass


class ConnectionStateMachine:
    """The state of one connection. Every state may go to DISCONNECTED (stop); the rest follow `_ALLOWED`."""

    def __init__(
        self,
        source: str,
        connection_id: str,
        clock: Clock,
        publish: Callable[[FeedStatus], None],
        *,
        fail_after_attempts: int = 5,
    ) -> None:
        self.source = source
        self.connection_id = connection_id
        self.state = ConnectionState.DISCONNECTED
        self.failures = 0
        self.fail_after_attempts = fail_after_attempts
        self._clock = clock
        self._publish = publish
        self._set_gauge(self.state)

    def transition(self, new: ConnectionState, reason: str, level: StatusLevel = StatusLevel.INFO) -> None:
        if new is not ConnectionState.DISCONNECTED and new not in _ALLOWED[self.state]:
            raise InvalidTransition(f"{self.connection_id}: {self.state} -> {new} ({reason})")
        if new is self.state:
            return
        CONNECTION_STATE.labels(self.source, self.connection_id, self.state).set(0)
        self.state = new
        self._set_gauge(new)
        now_ns = self._clock.now_ns()
        self._publish(
            FeedStatus(
                source=self.source,
                connection_id=self.connection_id,
                state=new,
                level=level,
                reason=reason,
                ts_event_ns=now_ns,
                ts_recv_ns=now_ns,
            )
        )

    def attempt_failed(self, reason: str) -> None:
        """After a failed attempt or a lost connection: RECONNECTING, or FAILED once failures pile up."""
        self.failures += 1
        if self.failures >= self.fail_after_attempts:
            if self.state is not ConnectionState.FAILED:
                self.transition(ConnectionState.FAILED, reason, StatusLevel.OPERATOR)
        else:
            self.transition(ConnectionState.RECONNECTING, reason, StatusLevel.WARNING)

    def connected(self, reason: str) -> None:
        self.failures = 0
        self.transition(ConnectionState.CONNECTED, reason)

    def _set_gauge(self, state: ConnectionState) -> None:
        CONNECTION_STATE.labels(self.source, self.connection_id, state).set(1)

    def close(self) -> None:
        """Stop: DISCONNECTED, and this connection's gauge series are cleared."""
        self.transition(ConnectionState.DISCONNECTED, "stopped")
        for state in ConnectionState:
            try:
                CONNECTION_STATE.remove(self.source, self.connection_id, state)
            except KeyError:
                continue


@dataclass
class ReconnectPolicy:
    backoff: Backoff
    connect_limiter: TokenBucket
    unreachable_hint: str = "unreachable"
    """Named in FeedStatus reasons when connecting fails (e.g. "Binance unreachable")."""


Session = Callable[[Callable[[], None]], Awaitable[None]]
"""A session: given `ready` (call it after a good subscribe), connect, subscribe, read until done."""


async def run_reconnecting(
    machine: ConnectionStateMachine, policy: ReconnectPolicy, session: Session
) -> None:
    """Run `session` forever with the reconnect policy until cancelled or a `PermanentError`.

    A session that returns normally is treated like a lost connection (`closed`), because a streaming
    connection is never supposed to end by itself.
    """
    first = True

    def ready() -> None:
        policy.backoff.reset()
        machine.connected("subscribed")

    while True:
        if machine.state is not ConnectionState.CONNECTING:
            machine.transition(ConnectionState.CONNECTING, "start" if first else "retry")
        first = False
        await policy.connect_limiter.acquire()
        try:
            await session(ready)
            reason = "closed"
        except asyncio.CancelledError:
            raise
        except PermanentError as e:
            machine.transition(ConnectionState.FAILED, f"permanent: {e}", StatusLevel.OPERATOR)
            raise
        except ConnectionLost as e:
            reason = e.reason
        except (OSError, TimeoutError) as e:
            reason = f"{policy.unreachable_hint}: {type(e).__name__}: {e}"
        except Exception as e:  # any library error ends only this session, never the feed
            reason = f"{type(e).__name__}: {e}"
        RECONNECTS.labels(machine.source, reason.split(":")[0][:40]).inc()
        machine.attempt_failed(reason)
        delay_s = policy.backoff.next_delay_s()
        log.info(
            "connection_lost",
            source=machine.source,
            connection=machine.connection_id,
            reason=reason,
            retry_in_s=round(delay_s, 3),
        )
        await asyncio.sleep(delay_s)
