"""Per-channel send limits; pure, time passed in as unix nanoseconds.

Each window is a sliding log of the last `limit` send times: a send is allowed when the oldest of them
is at least `window_s` old, so no span of `window_s` ever holds more than `limit` sends. (A token bucket
of `limit` tokens refilled over `window_s` lets nearly 2x `limit` through in the first window after an
idle spell, which is exactly what trips Discord's 5-per-2-s webhook bucket.)

The caller asks `wait_ns` before a send and calls `record` once the reply is in: the remote saw the
request no later than that, so spacing counted from replies holds on the remote's clock too, whatever
the network jitter (counting from the moment of sending lets a slow first request and a fast later one
land inside one of the remote's windows).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from cryptoradar.config.alerts import RateLimitWindow

_NS_PER_S = 1_000_000_000


class SlidingWindow:
    """At most `limit` events in any `window_s`."""

    def __init__(self, limit: int, window_s: float) -> None:
        if limit <= 0 or window_s <= 0:
            raise ValueError("a rate limit window needs limit > 0 and window_s > 0")
        self.limit = limit
        self._window_ns = int(window_s * _NS_PER_S)
        self._sent_ns: deque[int] = deque(maxlen=limit)

    def wait_ns(self, now_ns: int) -> int:
        """Nanoseconds until one more event is allowed (0: allowed now)."""
        if len(self._sent_ns) < self.limit:
            return 0
        return max(0, self._sent_ns[0] + self._window_ns - now_ns)

    def record(self, now_ns: int) -> None:
        self._sent_ns.append(now_ns)


class RateLimiter:
    """Several windows at once (for example 5 per 2 s and 30 per minute): a send must fit every one."""

    def __init__(self, windows: Sequence[RateLimitWindow]) -> None:
        self._windows = [SlidingWindow(w.limit, w.window_s) for w in windows]

    def wait_ns(self, now_ns: int) -> int:
        """Nanoseconds until one more send fits every window (0: now)."""
        return max((w.wait_ns(now_ns) for w in self._windows), default=0)

    def record(self, now_ns: int) -> None:
        """Count a send whose reply arrived at `now_ns` (successful or not: the remote counted it)."""
        for window in self._windows:
            window.record(now_ns)
