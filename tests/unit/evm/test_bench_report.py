"""The wallet benchmark's statistics and recommendation (pure)."""

from __future__ import annotations

import math

from cryptoradar.sources.evm.bench_report import ModeResult, Percentiles, WalletBenchReport


def test_nearest_rank_percentiles() -> None:
    p = Percentiles.of([float(v) for v in range(100, 0, -1)])
    assert (p.count, p.p50_ms, p.p95_ms, p.p99_ms, p.max_ms) == (100, 50.0, 95.0, 99.0, 100.0)
    assert math.isnan(Percentiles.of([]).p50_ms)


def _mode(name: str, sent: int, detected: int, dup: int, p95_ms: float) -> ModeResult:
    lat = Percentiles(10, p95_ms / 2, p95_ms, p95_ms, p95_ms)
    return ModeResult(
        mode=name,
        duration_s=10.0,
        trades_sent=sent,
        trades_detected=detected,
        duplicates=dup,
        errors=0,
        reconnects=1,
        reconnect_reasons="closed=1",
        from_mined=lat,
        steady_from_mined=lat,
        from_send=lat,
        cpu_s=0.5,
        rss_mb=50.0,
        peak_rss_mb=55.0,
        node_restarts=1,
    )


def test_recommendation_prefers_clean_modes_and_flags_misses() -> None:
    report = WalletBenchReport(
        block_time_s=1.0,
        wallets=3,
        modes=[
            _mode("ws", 10, 10, 0, 4.0),
            _mode("poll-1s", 10, 9, 0, 500.0),
            _mode("poll-5s", 10, 10, 0, 3000.0),
        ],
    )
    text = report.recommendation()
    assert "WebSocket primary" in text
    assert "polling at 5s" in text, "poll-1s missed a trade, so it cannot be the recommended fallback"
    assert report.modes[1].missed == 1
    assert report.modes[1].missed_pct == 10.0
    assert "| poll-1s | 10 | 9 | 10.0 |" in report.to_markdown()
    assert report.to_dict()["recommendation"] == text

    broken = WalletBenchReport(1.0, 3, [_mode("ws", 10, 10, 2, 4.0)])
    assert "doubled 2" in broken.recommendation()
