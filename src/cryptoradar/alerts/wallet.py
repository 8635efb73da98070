"""Wallet trades and operator notices as Signals, so one pipeline stores, routes and renders them all."""

from __future__ import annotations

from cryptoradar.events import Direction, Severity, Signal, WalletTrade

WALLET_DETECTOR = "wallet"
WALLET_TRADE = "wallet_trade"
WALLET_CORRECTION = "wallet_trade_correction"
OPERATOR_DETECTOR = "operator"
CHANNEL_DISABLED = "channel_disabled"

_DIRECTIONS = {
    "buy": Direction.BULLISH,
    "in": Direction.BULLISH,
    "sell": Direction.BEARISH,
    "out": Direction.BEARISH,
}


def wallet_signal(trade: WalletTrade, *, correction: bool = False) -> Signal:
    ts_ms = trade.ts_event_ns // 1_000_000
    return Signal(
        detector=WALLET_DETECTOR,
        rule_version=1,
        kind=WALLET_CORRECTION if correction else WALLET_TRADE,
        symbol=trade.token,
        timeframe=trade.chain,
        window_start_ms=ts_ms,
        window_end_ms=ts_ms,
        direction=_DIRECTIONS.get(trade.direction.lower(), Direction.NEUTRAL),
        severity=Severity.WARNING,
        conditions=(),
        metrics={
            "amount": trade.amount,
            "block_number": float(trade.block_number),
            "log_index": float(trade.log_index),
        },
        labels={
            "chain": trade.chain,
            "wallet": trade.wallet,
            "wallet_label": trade.wallet_label,
            "direction": trade.direction,
            "trade_kind": trade.kind,
            "counterparty": trade.counterparty,
            "tx_hash": trade.tx_hash,
            "explorer_url": trade.explorer_url,
        },
        symbols=(trade.token,),
        ts_event_ns=trade.ts_event_ns,
    )


def channel_disabled_signal(channel: str, error: str, now_ns: int) -> Signal:
    now_ms = now_ns // 1_000_000
    return Signal(
        detector=OPERATOR_DETECTOR,
        rule_version=1,
        kind=CHANNEL_DISABLED,
        symbol=channel,
        timeframe="",
        window_start_ms=now_ms,
        window_end_ms=now_ms,
        direction=Direction.NEUTRAL,
        severity=Severity.CRITICAL,
        conditions=(),
        metrics={},
        labels={"channel": channel, "error": error[:500]},
        symbols=(),
        ts_event_ns=now_ns,
    )
