"""The wallet benchmark's report: per-mode results, percentiles and the recommendation."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Percentiles:
    count: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float

    @classmethod
    def of(cls, samples_ms: list[float]) -> Percentiles:
        if not samples_ms:
            return cls(0, math.nan, math.nan, math.nan, math.nan)
        ordered = sorted(samples_ms)

        def pick(q: float) -> float:
            # Nearest-rank: the smallest sample with at least q of the samples at or below it.
            return ordered[max(0, math.ceil(q * len(ordered)) - 1)]

        return cls(len(ordered), pick(0.50), pick(0.95), pick(0.99), ordered[-1])


@dataclass(frozen=True)
class ModeResult:
    mode: str
    """"ws" (WebSocket, 1 s polling as fallback) or "poll-<N>s" (WebSocket disabled)."""
    duration_s: float
    trades_sent: int
    """Trades (wallet, log) in transactions that were mined; a send refused while the node was down is not sent."""
    trades_detected: int
    duplicates: int
    errors: int
    """Sends that failed for a reason other than the node being down, plus bad input the monitor counted."""
    reconnects: int
    reconnect_reasons: str
    """RECONNECTS by reason in the monitor process, "reason=count; ..." (connect failures included)."""
    from_mined: Percentiles
    """Detection minus the moment an independent newHeads listener saw the trade's block."""
    steady_from_mined: Percentiles
    """`from_mined` for blocks seen well before the kill (more than one poll interval + one block + 1 s),
    so neither the outage nor the recovery is in the way."""
    from_send: Percentiles
    """Detection minus the moment just before eth_sendTransaction."""
    cpu_s: float
    rss_mb: float
    peak_rss_mb: float
    node_restarts: int
    missing: list[str] = field(default_factory=list)
    """tx hashes of trades sent but never detected (empty when nothing was missed)."""

    @property
    def missed(self) -> int:
        return self.trades_sent - min(self.trades_sent, self.trades_detected)

    @property
    def missed_pct(self) -> float:
        return 100.0 * self.missed / self.trades_sent if self.trades_sent else 0.0

    @property
    def cpu_pct(self) -> float:
        return 100.0 * self.cpu_s / self.duration_s if self.duration_s else 0.0


@dataclass(frozen=True)
class WalletBenchReport:
    block_time_s: float
    wallets: int
    modes: list[ModeResult]

    def recommendation(self) -> str:
        ws = next((m for m in self.modes if m.mode == "ws"), None)
        clean_polls = sorted(
            (m for m in self.modes if m.mode.startswith("poll") and m.missed == 0 and m.duplicates == 0),
            key=lambda m: m.steady_from_mined.p95_ms,
        )
        parts: list[str] = []
        if ws is not None and ws.missed == 0 and ws.duplicates == 0:
            parts.append(
                f"WebSocket primary: steady state p50 {ws.steady_from_mined.p50_ms:.0f} ms / "
                f"p99 {ws.steady_from_mined.p99_ms:.0f} ms after the block, nothing missed or doubled across "
                f"{ws.node_restarts} node restart(s)."
            )
        elif ws is not None:
            parts.append(
                f"WebSocket mode missed {ws.missed} and doubled {ws.duplicates}: investigate before go-live."
            )
        if clean_polls:
            best = clean_polls[0]
            parts.append(
                f"Fallback: eth_getLogs polling at {best.mode.removeprefix('poll-')} "
                f"(steady p95 {best.steady_from_mined.p95_ms:.0f} ms after the block, {best.cpu_pct:.1f}% CPU); "
                "slower intervals only trade latency for fewer RPC calls."
            )
        return " ".join(parts) or "No mode ran cleanly."

    def to_dict(self) -> dict[str, object]:
        return {
            "block_time_s": self.block_time_s,
            "wallets": self.wallets,
            "modes": [
                asdict(m) | {"missed": m.missed, "missed_pct": m.missed_pct, "cpu_pct": m.cpu_pct}
                for m in self.modes
            ],
            "recommendation": self.recommendation(),
        }

    def to_markdown(self) -> str:
        lines = [
            f"Wallet monitor benchmark: local ganache, block time {self.block_time_s:g} s, "
            f"{self.wallets} watched wallets, node killed and restarted mid-run in every mode.",
            "",
            "| mode | sent | detected | missed % | dup | err | reconnects | steady: from block p50/p95/p99/max ms "
            "| all: from block p50/p95/max ms | all: from send p50/p95/max ms | CPU % | RSS MB (peak) |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for m in self.modes:
            st, b, s = m.steady_from_mined, m.from_mined, m.from_send
            lines.append(
                f"| {m.mode} | {m.trades_sent} | {m.trades_detected} | {m.missed_pct:.1f} | {m.duplicates} | "
                f"{m.errors} | {m.reconnects} | {st.p50_ms:.0f}/{st.p95_ms:.0f}/{st.p99_ms:.0f}/{st.max_ms:.0f} "
                f"(n={st.count}) | {b.p50_ms:.0f}/{b.p95_ms:.0f}/{b.max_ms:.0f} (n={b.count}) | "
                f"{s.p50_ms:.0f}/{s.p95_ms:.0f}/{s.max_ms:.0f} | {m.cpu_pct:.1f} | "
                f"{m.rss_mb:.0f} ({m.peak_rss_mb:.0f}) |"
            )
        lines += ["", "Reconnect reasons (monitor process): "]
        lines += [f"- {m.mode}: {m.reconnect_reasons or 'none'}" for m in self.modes]
        lines += ["", "Recommendation: " + self.recommendation()]
        return "\n".join(lines)
