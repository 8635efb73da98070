"""Alert pipeline: throughput through dedup + cooldown + route + render + store, and the latency from a
signal's bar close through the real webhook sink (signed) to a loopback receiver. The bar close -> alert
figure of the whole service (feed, detectors, grouping waits) is `benchmarks e2e`.

Run with `python -m benchmarks alerts` or `python -m benchmarks.bench_alerts [signals]`.
Targets: >= 5,000 alerts/s persisted; p99 signal -> received <= 20 ms.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import msgspec
from aiohttp import web

from cryptoradar.alerts.service import AlertService
from cryptoradar.config.alerts import AlertsConfig
from cryptoradar.core.clock import SystemClock
from cryptoradar.events import Direction, Severity, Signal
from cryptoradar.notifications import Notification, RenderedAlert
from cryptoradar.sinks import build_sink
from cryptoradar.storage.sqlite import SqliteStore

BASE_MS = 1_767_225_600_000
BURST = 500
"""Signals submitted together, as a bar close across a few hundred symbols produces them."""


def _signal(i: int, *, now_ns: int | None = None) -> Signal:
    start_ms = BASE_MS + (i // 400) * 60_000
    symbol = f"S{i % 400}USDT"
    return Signal(
        detector="momentum",
        rule_version=1,
        kind="momentum",
        symbol=symbol,
        timeframe="1m",
        window_start_ms=start_ms,
        window_end_ms=start_ms + 59_999,
        direction=Direction.BULLISH if i % 2 else Direction.BEARISH,
        severity=(Severity.INFO, Severity.WARNING, Severity.HIGH)[i % 3],
        conditions=(),
        metrics={"strength": 7.0, "move_pct": 1.8, "move_sigma": 2.9, "volume_pct": 320.0, "volume_z": 3.3},
        labels={"regime": "trending"},
        symbols=(symbol,),
        ts_event_ns=now_ns if now_ns is not None else (start_ms + 60_000) * 1_000_000,
    )


def _config(channels: dict[str, object]) -> AlertsConfig:
    return AlertsConfig.model_validate(
        {
            "channels": channels,
            "default_channels": list(channels),
            "fallback_channels": [],
            "group_wait_s": 0,
            "cooldowns": {},
        }
    )


class _NullSink:
    """Accepts everything; `reached` is set once `target` alerts went through it."""

    def __init__(self, name: str, target: int) -> None:
        self.name = name
        self.alerts = 0
        self.target = target
        self.reached = asyncio.Event()

    def pack(self, alerts: list[RenderedAlert]) -> list[Notification]:
        return [Notification(self.name, tuple(alerts))]

    async def send(self, notification: Notification) -> None:
        self.alerts += len(notification.alerts)
        if self.alerts >= self.target:
            self.reached.set()

    async def close(self) -> None:
        return None


class Throughput(msgspec.Struct, frozen=True):
    persisted_per_s: float
    """Bursts: submit() returned (deduped, cooled, routed, persisted, queued) while delivery runs."""
    delivered_per_s: float
    """Bursts: until every alert was rendered and handed to both sinks."""
    sequential_per_s: float
    """One submit() at a time on an idle pipeline (each waits for its own commit)."""


CHANNELS: dict[str, object] = {
    "log": {"type": "log"},
    "tg": {"type": "telegram", "bot_token": "t", "chat_id": "1", "rate_limits": []},
}


async def _throughput(db: Path, count: int, channel_count: int, sequential: int = 1000) -> Throughput:
    channels = dict(list(CHANNELS.items())[:channel_count])
    store = SqliteStore(db)
    await store.open()
    sinks = {name: _NullSink(name, count) for name in channels}
    service = AlertService(_config(channels), store, sinks, SystemClock())
    await service.start()
    started = time.perf_counter()
    for first in range(0, count, BURST):
        ids = await asyncio.gather(
            *(service.submit(_signal(i)) for i in range(first, min(count, first + BURST)))
        )
        assert all(i is not None for i in ids)
    persisted_s = time.perf_counter() - started
    await asyncio.gather(*(sink.reached.wait() for sink in sinks.values()))
    delivered_s = time.perf_counter() - started
    started = time.perf_counter()
    for i in range(count, count + sequential):
        assert await service.submit(_signal(i)) is not None
    sequential_s = time.perf_counter() - started
    await service.stop(30.0)
    await store.close()
    return Throughput(count / persisted_s, count / delivered_s, sequential / sequential_s)


async def _latency(db: Path, count: int) -> list[float]:
    """Milliseconds from each signal's bar close to the loopback receiver reading the alert, one signal at
    a time, through the real webhook sink (JSON body, Standard Webhooks signature, aiohttp)."""
    received_ns: dict[int, int] = {}
    all_received = asyncio.Event()

    async def handle(request: web.Request) -> web.Response:
        body = await request.json()
        now_ns = time.time_ns()
        for alert in body["alerts"]:
            received_ns[alert["alert_id"]] = now_ns
        if len(received_ns) >= count:
            all_received.set()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    channels: dict[str, object] = {"hook": {"type": "webhook", "url": url, "secret": "s", "rate_limits": []}}
    config = _config(channels)
    store = SqliteStore(db)
    await store.open()
    sinks = {name: build_sink(name, channel) for name, channel in config.channels.items()}
    service = AlertService(config, store, sinks, SystemClock())
    await service.start()
    closed_ns: dict[int, int] = {}
    for i in range(count):
        close_ns = time.time_ns()  # the bar closes now; its signal is submitted at once
        alert_id = await service.submit(_signal(i, now_ns=close_ns))
        assert alert_id is not None
        closed_ns[alert_id] = close_ns
        await asyncio.sleep(0.005)  # pacing: one alert at a time, not a burst
    await asyncio.wait_for(all_received.wait(), timeout=10)
    await service.stop(5.0)
    await store.close()
    await runner.cleanup()
    return [(received_ns[a] - t) / 1e6 for a, t in closed_ns.items() if a in received_ns]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(count: int = 20_000) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        by_channels = {n: asyncio.run(_throughput(Path(tmp) / f"t{n}.db", count, n)) for n in (1, 2)}
        latencies_ms = asyncio.run(_latency(Path(tmp) / "latency.db", 500))
    print(f"throughput ({count} signals in bursts of {BURST}, SQLite synchronous=FULL), target >= 5,000/s:")
    for n, rates in by_channels.items():
        print(
            f"  {n} channel(s): persisted {rates.persisted_per_s:,.0f}/s  rendered+delivered "
            f"{rates.delivered_per_s:,.0f}/s  one-by-one {rates.sequential_per_s:,.0f}/s"
        )
    print(
        f"bar close -> webhook sink -> loopback receiver ({len(latencies_ms)} alerts, one at a time, no grouping):"
    )
    print(
        f"  p50 {statistics.median(latencies_ms):.2f} ms  p99 {_pct(latencies_ms, 0.99):.2f} ms  "
        f"max {max(latencies_ms):.2f} ms   target p99 <= 20 ms"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
