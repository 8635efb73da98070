"""Signal builders shared by the alert tests (unit and integration)."""

from __future__ import annotations

from cryptoradar.events import Direction, Severity, Signal, WalletTrade

T0_NS = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z
S = 1_000_000_000


def make_signal(
    *,
    detector: str = "momentum",
    kind: str = "momentum",
    symbol: str = "BTCUSDT",
    timeframe: str = "1m",
    at_ns: int = T0_NS,
    severity: Severity = Severity.HIGH,
    direction: Direction = Direction.BULLISH,
    metrics: dict[str, float] | None = None,
    labels: dict[str, str] | None = None,
) -> Signal:
    """A signal whose window closes at `at_ns` (a 1-minute window unless timeframe says otherwise)."""
    end_ms = at_ns // 1_000_000
    return Signal(
        detector=detector,
        rule_version=1,
        kind=kind,
        symbol=symbol,
        timeframe=timeframe,
        window_start_ms=end_ms - 60_000,
        window_end_ms=end_ms - 1,
        direction=direction,
        severity=severity,
        conditions=(),
        metrics=metrics if metrics is not None else {"strength": 7.0},
        labels=labels or {},
        symbols=(symbol,),
        ts_event_ns=at_ns,
    )


def make_trade(
    *, wallet_label: str = "fund", tx_hash: str = "0xT", log_index: int = 1, wallet: str = "0xabc"
) -> WalletTrade:
    """A watched wallet buying 2 WETH on Polygon at T0."""
    return WalletTrade(
        chain="polygon",
        wallet=wallet,
        wallet_label=wallet_label,
        direction="buy",
        kind="swap",
        token="WETH",
        amount=2.0,
        counterparty="0xdef",
        tx_hash=tx_hash,
        log_index=log_index,
        block_number=5,
        explorer_url=f"https://polygonscan.com/tx/{tx_hash}",
        removed=False,
        ts_event_ns=T0_NS,
        ts_recv_ns=T0_NS,
    )
