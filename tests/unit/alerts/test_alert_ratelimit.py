"""Send limits with injected time."""

from __future__ import annotations

import pytest

from cryptoradar.alerts.ratelimit import RateLimiter, SlidingWindow
from cryptoradar.config.alerts import DEFAULT_RATE_LIMITS, ChannelType, RateLimitWindow

S = 1_000_000_000


def test_window_burst_then_wait_for_oldest() -> None:
    window = SlidingWindow(5, 2.0)
    for t in range(5):
        assert window.wait_ns(t) == 0
        window.record(t)
    assert window.wait_ns(10) == 2 * S - 10  # the first send (t=0) leaves the window at 2 s
    assert window.wait_ns(2 * S - 1) == 1
    assert window.wait_ns(2 * S) == 0


def drive(limiter: RateLimiter, count: int) -> list[int]:
    sent_at: list[int] = []
    now = 0
    while len(sent_at) < count:
        wait = limiter.wait_ns(now)
        if wait:
            now += wait
            continue
        limiter.record(now)
        sent_at.append(now)
    return sent_at


def test_discord_defaults_hold_both_windows_and_use_them_fully() -> None:
    sent_at = drive(RateLimiter(DEFAULT_RATE_LIMITS[ChannelType.DISCORD]), 70)
    assert all(sent_at[i + 5] - sent_at[i] >= 2 * S for i in range(len(sent_at) - 5))
    assert all(sent_at[i + 30] - sent_at[i] >= 60 * S for i in range(len(sent_at) - 30))
    assert sent_at[4] == 0
    assert sent_at[5] == 2 * S
    assert sent_at[30] == 60 * S


def test_telegram_defaults() -> None:
    sent_at = drive(RateLimiter(DEFAULT_RATE_LIMITS[ChannelType.TELEGRAM]), 25)
    assert sent_at[:3] == [0, S, 2 * S]  # 1 per second
    assert sent_at[20] == 60 * S  # 20 per minute


def test_the_fullest_window_decides_the_wait() -> None:
    limiter = RateLimiter([RateLimitWindow(limit=1, window_s=1), RateLimitWindow(limit=2, window_s=10)])
    assert limiter.wait_ns(0) == 0
    limiter.record(0)
    assert limiter.wait_ns(0) == S
    limiter.record(S)
    assert limiter.wait_ns(2 * S) == 8 * S  # the 1 s window is free, the 10 s one is full until 10 s
    assert limiter.wait_ns(10 * S) == 0


def test_a_send_counts_from_its_reply() -> None:
    limiter = RateLimiter([RateLimitWindow(limit=1, window_s=1)])
    limiter.record(S // 2)  # sent at 0, reply in at 0.5 s: the remote may have counted it that late
    assert limiter.wait_ns(S) == S // 2


def test_no_windows_never_waits() -> None:
    limiter = RateLimiter(())
    for _ in range(100):
        assert limiter.wait_ns(0) == 0
        limiter.record(0)


def test_bad_window() -> None:
    with pytest.raises(ValueError, match="limit"):
        SlidingWindow(0, 1.0)
