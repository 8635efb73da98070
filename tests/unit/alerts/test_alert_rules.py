"""Cooldown and duplicate rules on event time, boundaries included."""

from __future__ import annotations

import pytest
from signals import T0_NS, S, make_signal, make_trade

from cryptoradar.alerts.rules import (
    CooldownBook,
    CooldownState,
    Verdict,
    decide,
    signal_signature,
    wallet_signature,
)
from cryptoradar.config.alerts import AlertsConfig, CooldownRule
from cryptoradar.events import Direction, Signal

MOMENTUM = CooldownRule(cooldown_s=1800)
CONFLUENCE = CooldownRule(cooldown_s=300, reentry_move_pct=0.3, history_s=1800)


def confluence(at_ns: int, entry: float, direction: Direction = Direction.BULLISH) -> Signal:
    return make_signal(
        detector="confluence", kind="confluence", at_ns=at_ns, direction=direction, metrics={"entry": entry}
    )


def prev(at_ns: int = T0_NS, entry: float | None = 100.0, direction: str = "bullish") -> CooldownState:
    return CooldownState(at_ns, entry, direction)


@pytest.mark.parametrize(
    ("offset_ns", "verdict"),
    [
        (0, Verdict.COOLDOWN),
        (1800 * S - 1, Verdict.COOLDOWN),
        (1800 * S, Verdict.ALLOW),
        (1800 * S + 1, Verdict.ALLOW),
    ],
)
def test_momentum_cooldown_boundary(offset_ns: int, verdict: Verdict) -> None:
    assert decide(MOMENTUM, prev(), make_signal(at_ns=T0_NS + offset_ns)) is verdict


def test_no_rule_or_no_history_allows() -> None:
    assert decide(None, prev(), make_signal()) is Verdict.ALLOW
    assert decide(MOMENTUM, None, make_signal()) is Verdict.ALLOW


def test_signal_older_than_last_alert_is_held_back() -> None:
    assert decide(MOMENTUM, prev(), make_signal(at_ns=T0_NS - 60 * S)) is Verdict.COOLDOWN


@pytest.mark.parametrize(
    ("entry", "verdict"),
    [(100.0, Verdict.COOLDOWN), (100.3, Verdict.COOLDOWN), (100.31, Verdict.ALLOW), (99.69, Verdict.ALLOW)],
)
def test_confluence_reentry_inside_cooldown(entry: float, verdict: Verdict) -> None:
    # 0.3 % is the boundary: exactly 0.3 % does not count as "moved more than 0.3 %".
    assert decide(CONFLUENCE, prev(), confluence(T0_NS + 299 * S, entry)) is verdict


@pytest.mark.parametrize(
    ("offset_s", "entry", "direction", "verdict"),
    [
        (300, 100.1, Direction.BULLISH, Verdict.DUPLICATE_SETUP),  # cooldown over, same setup
        (300, 100.5, Direction.BULLISH, Verdict.ALLOW),  # price moved on
        (300, 100.1, Direction.BEARISH, Verdict.ALLOW),  # direction flipped
        (1799, 100.0, Direction.BULLISH, Verdict.DUPLICATE_SETUP),
        (1800, 100.0, Direction.BULLISH, Verdict.ALLOW),  # 30 min history expired
    ],
)
def test_confluence_history(offset_s: int, entry: float, direction: Direction, verdict: Verdict) -> None:
    assert decide(CONFLUENCE, prev(), confluence(T0_NS + offset_s * S, entry, direction)) is verdict


def test_confluence_without_entry_falls_back_to_plain_cooldown() -> None:
    s = make_signal(detector="confluence", kind="confluence", at_ns=T0_NS + 10 * S, metrics={})
    assert decide(CONFLUENCE, prev(), s) is Verdict.COOLDOWN
    assert (
        decide(CONFLUENCE, prev(), make_signal(kind="confluence", at_ns=T0_NS + 300 * S, metrics={}))
        is Verdict.ALLOW
    )


def test_book_uses_kind_then_detector_and_can_undo() -> None:
    book = CooldownBook(AlertsConfig().cooldowns)
    radar = make_signal(detector="futures_radar", kind="whale_trade")
    assert book.check(radar) is Verdict.ALLOW
    previous, keep_until = book.record(radar)
    assert previous is None
    assert keep_until == radar.ts_event_ns + 600 * S
    assert (
        book.check(make_signal(detector="futures_radar", kind="whale_trade", at_ns=T0_NS + 599 * S))
        is Verdict.COOLDOWN
    )
    assert (
        book.check(make_signal(detector="futures_radar", kind="whale_trade", symbol="ETHUSDT"))
        is Verdict.ALLOW
    )
    book.restore(radar, previous)
    assert book.check(radar) is Verdict.ALLOW
    unknown = make_signal(detector="other", kind="other")
    assert book.record(unknown) == (None, None)
    assert book.check(unknown) is Verdict.ALLOW


def test_keep_until_covers_history() -> None:
    book = CooldownBook({"confluence": CONFLUENCE})
    _, keep_until = book.record(confluence(T0_NS, 100.0))
    assert keep_until == T0_NS + 1800 * S


def test_signatures() -> None:
    s = make_signal()
    assert signal_signature(s) == f"momentum|momentum||BTCUSDT|1m|{s.window_start_ms}|{s.window_end_ms}"
    storm = make_signal(detector="futures_radar", kind="liquidation_storm")
    kinds = {
        signal_signature(make_signal(detector="futures_radar", kind=k)) for k in ("radar", "whale_cluster")
    }
    assert signal_signature(storm) not in kinds, "kinds over one window are distinct"
    assert len(kinds) == 2
    on_futures = make_signal(labels={"market": "usdm"})
    assert (
        signal_signature(on_futures)
        == f"momentum|momentum|usdm|BTCUSDT|1m|{s.window_start_ms}|{s.window_end_ms}"
    )
    trade = make_trade(tx_hash="0xAB", log_index=3)
    key = f"polygon|0xab|3|{trade.wallet.lower()}|{trade.token}"
    assert wallet_signature(trade) == f"wallet|{key}"
    assert wallet_signature(trade, correction=True) == f"wallet-correction|{key}"
    other_side = make_trade(tx_hash="0xAB", log_index=3, wallet="0xother")
    assert wallet_signature(other_side) != wallet_signature(trade), "both watched sides of a log are alerted"
