from __future__ import annotations

import pytest

from cryptoradar.core.clock import ManualClock, ms_to_ns, ns_to_ms
from cryptoradar.core.logging import LogOncePerKind


def test_manual_clock_moves_forward_only() -> None:
    clock = ManualClock(start_ns=ms_to_ns(1_000))
    clock.advance(ms_to_ns(500))
    assert ns_to_ms(clock.now_ns()) == 1_500
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="backwards"):
        clock.set(0)


def test_log_once_per_kind_rate_limits_each_kind_separately() -> None:
    clock = ManualClock()
    limiter = LogOncePerKind(interval_s=60, clock=clock)
    assert limiter.should_log("malformed_json")
    assert not limiter.should_log("malformed_json")
    assert limiter.should_log("nan")
    clock.advance(ms_to_ns(60_000))
    assert limiter.should_log("malformed_json")
    assert limiter.suppressed == {"malformed_json": 1}
