"""`cryptoradar bench wallets`, shortened: a real ganache chain, WebSocket and 1 s polling, node killed mid-run.

Checks the issue's targets on the benchmark's own measurements: nothing missed or doubled in any mode
and WebSocket detection within 100 ms of the block at p99 (steady state).
"""

from __future__ import annotations

import math

import pytest

from cryptoradar.sources.evm.bench import run_wallet_benchmark
from cryptoradar.storage.evm_sqlite import SqliteWalletStore


@pytest.mark.slow
def test_short_benchmark_misses_nothing_and_meets_the_websocket_target() -> None:
    report = run_wallet_benchmark(
        SqliteWalletStore.open, duration_s=10.0, block_time_s=1.0, poll_intervals_s=(1.0,), outage_s=2.0
    )

    ws, poll = report.modes
    assert (ws.mode, poll.mode) == ("ws", "poll-1s")
    for mode in report.modes:
        # 3 wallets sending every 0.3..1.5 s for 10 s: far more than one trade per wallet.
        assert mode.trades_sent >= 6, mode
        assert mode.missed == 0, mode
        assert mode.missing == [], mode
        assert mode.duplicates == 0, mode
        assert mode.errors == 0, mode
        assert mode.node_restarts == 1
        assert mode.from_mined.count > 0
        assert mode.from_send.count == mode.trades_detected
        assert mode.from_send.p50_ms > 0
        assert not math.isnan(mode.from_mined.max_ms)
        assert mode.cpu_s > 0
        assert mode.rss_mb > 0
        assert mode.peak_rss_mb >= mode.rss_mb
    # The kill ends the WebSocket session; the polling-only monitor has no socket to lose.
    assert ws.reconnects >= 1
    assert poll.reconnects == 0
    assert ws.steady_from_mined.count > 0
    assert ws.steady_from_mined.p99_ms <= 100.0, ws.steady_from_mined
    # Polling waits for its next round: slower than the push, on the same blocks.
    assert ws.steady_from_mined.p50_ms < poll.steady_from_mined.p50_ms

    text = report.to_markdown()
    assert "| ws | " in text
    assert "| poll-1s | " in text
    assert "WebSocket primary" in report.recommendation()
    assert report.to_dict()["recommendation"] == report.recommendation()
