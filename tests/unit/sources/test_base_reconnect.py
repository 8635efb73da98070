"""The reconnect policy and connection state machine (sources/base.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from conftest import eventually
from cryptoradar.core.backoff import Backoff
from cryptoradar.core.clock import ManualClock
from cryptoradar.core.errors import PermanentError
from cryptoradar.core.metrics import CONNECTION_STATE, REGISTRY
from cryptoradar.events import ConnectionState, FeedStatus, StatusLevel
from cryptoradar.sources.base import (
    ConnectionLost,
    ConnectionStateMachine,
    InvalidTransition,
    ReconnectPolicy,
    TokenBucket,
    run_reconnecting,
)

S = ConnectionState


def machine(published: list[FeedStatus], conn_id: str = "c1", fail_after: int = 3) -> ConnectionStateMachine:
    return ConnectionStateMachine(
        "test", conn_id, ManualClock(), published.append, fail_after_attempts=fail_after
    )


def test_transitions_publish_feed_status_and_gauge() -> None:
    published: list[FeedStatus] = []
    m = machine(published, "gauge")
    m.transition(S.CONNECTING, "start")
    m.connected("subscribed")
    m.attempt_failed("closed")
    assert [p.state for p in published] == [S.CONNECTING, S.CONNECTED, S.RECONNECTING]
    assert published[-1].level is StatusLevel.WARNING
    assert (
        REGISTRY.get_sample_value(
            "cryptoradar_connection_state", {"source": "test", "connection": "gauge", "state": "RECONNECTING"}
        )
        == 1
    )
    assert (
        REGISTRY.get_sample_value(
            "cryptoradar_connection_state", {"source": "test", "connection": "gauge", "state": "CONNECTED"}
        )
        == 0
    )
    m.close()
    assert m.state is S.DISCONNECTED
    assert CONNECTION_STATE.labels("test", "gauge", "DISCONNECTED") is not None


def test_illegal_transitions_are_refused() -> None:
    m = machine([])
    with pytest.raises(InvalidTransition):
        m.transition(S.CONNECTED, "skipping CONNECTING")
    m.transition(S.CONNECTING, "start")
    with pytest.raises(InvalidTransition):
        m.transition(S.CONNECTING, "again")  # staying put is not a move


def test_repeated_failures_escalate_to_failed_at_operator_level_and_recover() -> None:
    published: list[FeedStatus] = []
    m = machine(published, fail_after=3)
    for _ in range(3):
        m.transition(S.CONNECTING, "retry")
        m.attempt_failed("unreachable")
    assert m.state is S.FAILED
    assert published[-1].level is StatusLevel.OPERATOR
    m.transition(S.CONNECTING, "retry")
    m.connected("subscribed")
    assert m.failures == 0


async def test_token_bucket_paces_after_the_burst() -> None:
    bucket = TokenBucket(rate_per_s=20, burst=2)
    loop = asyncio.get_running_loop()
    start = loop.time()
    for _ in range(6):
        await bucket.acquire()
    assert loop.time() - start >= (6 - 2) / 20 * 0.9


async def test_run_reconnecting_backs_off_resets_after_ready_and_stops_on_permanent() -> None:
    published: list[FeedStatus] = []
    m = machine(published, fail_after=10)
    backoff = Backoff(initial_s=0.01, max_s=0.02)
    calls = 0

    async def session(ready: Callable[[], None]) -> None:
        nonlocal calls
        calls += 1
        if calls <= 2:
            raise OSError("refused")
        if calls == 3:
            ready()
            raise ConnectionLost("stale")
        raise PermanentError("banned")

    policy = ReconnectPolicy(backoff, TokenBucket(100, 10), unreachable_hint="Binance unreachable")
    with pytest.raises(PermanentError):
        await asyncio.wait_for(run_reconnecting(m, policy, session), 5)
    states = [p.state for p in published]
    assert states == [
        S.CONNECTING,
        S.RECONNECTING,
        S.CONNECTING,
        S.RECONNECTING,
        S.CONNECTING,
        S.CONNECTED,
        S.RECONNECTING,
        S.CONNECTING,
        S.FAILED,
    ]
    assert "Binance unreachable" in published[1].reason
    assert published[6].reason == "stale"


async def test_run_reconnecting_is_cancellable() -> None:
    m = machine([])
    started = asyncio.Event()

    async def session(ready: Callable[[], None]) -> None:
        ready()
        started.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(
        run_reconnecting(m, ReconnectPolicy(Backoff(0.01, 0.02), TokenBucket(10, 1)), session)
    )
    await eventually(started.is_set)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
