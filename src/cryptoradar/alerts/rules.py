"""Dedup keys and cooldowns: pure decisions on event time (no I/O, no clock).

A cooldown is kept per (detector, symbol, kind). Inside `cooldown_s` after the last alert a new one is
held back, except, when the rule has `reentry_move_pct`, if its `entry` moved strictly more than that
percentage from the last alert's entry. Between the end of the cooldown and `history_s`, a signal in
the same direction whose entry is within that percentage repeats the same setup and is held back too.
Boundaries: a signal exactly `cooldown_s` (or `history_s`) after the last alert is past it.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

import msgspec

from cryptoradar.config.alerts import CooldownRule
from cryptoradar.events import Signal, WalletTrade

_NS_PER_S = 1_000_000_000


class Verdict(StrEnum):
    ALLOW = "allow"
    COOLDOWN = "cooldown"
    DUPLICATE_SETUP = "duplicate_setup"


class Suppression(StrEnum):
    """Why a signal got no delivered alert: the `reason` of `cryptoradar_alerts_suppressed_total`."""

    SILENCED = "silenced"
    COOLDOWN = Verdict.COOLDOWN.value
    DUPLICATE_SETUP = Verdict.DUPLICATE_SETUP.value
    DUPLICATE = "duplicate"
    """The same signature (detector, kind, market, symbol, timeframe, window start) already alerted."""
    NO_ROUTE = "no_route"
    """Stored, but no live channel (nor fallback) to deliver it to."""
    HISTORY = "history"
    """About a warm-up bar (judged by the app's history gate before the alert service)."""


class CooldownState(msgspec.Struct, frozen=True):
    last_event_ns: int
    last_entry_price: float | None
    last_direction: str


CooldownKey = tuple[str, str, str]
"""(detector, symbol, kind)"""


MARKET_LABEL = "market"
"""The label a detector that reads more than one market sets on its signals (absent: one market only)."""


def signal_signature(signal: Signal) -> str:
    """The dedup key: one alert per (detector, kind, market, symbol, timeframe, window start and end).

    Kind and market are part of it because one detector emits several kinds over the same window (a
    liquidation storm, a whale cluster and the composite radar signal can all start at the same event),
    and the same symbol trades on several markets. The window's end is part of it because a rolling
    window can give a second signal of the same kind from the same start (the radar's escalation to a
    convergence); only a true repeat (the same window replayed) is a duplicate. `storage.migrations`
    version 2 rewrites keys stored in the older `detector|symbol|timeframe|window_start_ms` form."""
    market = signal.labels.get(MARKET_LABEL, "")
    return (
        f"{signal.detector}|{signal.kind}|{market}|{signal.symbol}|{signal.timeframe}"
        f"|{signal.window_start_ms}|{signal.window_end_ms}"
    )


def wallet_signature(trade: WalletTrade, *, correction: bool = False) -> str:
    """One alert per trade: (chain, tx_hash, log_index) plus wallet and token, because one log can be two
    trades (a transfer between two watched wallets) or many (an ERC-1155 batch). Its reorg correction has
    its own key."""
    prefix = "wallet-correction" if correction else "wallet"
    return f"{prefix}|{trade.chain}|{trade.tx_hash.lower()}|{trade.log_index}|{trade.wallet.lower()}|{trade.token}"


def cooldown_key(signal: Signal) -> CooldownKey:
    return (signal.detector, signal.symbol, signal.kind)


def rule_for(rules: Mapping[str, CooldownRule], signal: Signal) -> CooldownRule | None:
    """The rule for the signal's kind, else for its detector, else None (no cooldown)."""
    return rules.get(signal.kind) or rules.get(signal.detector)


def entry_price(signal: Signal) -> float | None:
    entry = signal.metrics.get("entry")
    return entry if entry is not None and entry > 0 else None


def _moved_pct(previous: CooldownState, signal: Signal) -> float | None:
    entry = entry_price(signal)
    if entry is None or previous.last_entry_price is None or previous.last_entry_price <= 0:
        return None
    return abs(entry - previous.last_entry_price) / previous.last_entry_price * 100.0


def decide(rule: CooldownRule | None, previous: CooldownState | None, signal: Signal) -> Verdict:
    if rule is None or previous is None:
        return Verdict.ALLOW
    elapsed_ns = signal.ts_event_ns - previous.last_event_ns
    moved_pct = _moved_pct(previous, signal) if rule.reentry_move_pct is not None else None
    if elapsed_ns < rule.cooldown_s * _NS_PER_S:
        if moved_pct is not None and rule.reentry_move_pct is not None and moved_pct > rule.reentry_move_pct:
            return Verdict.ALLOW
        return Verdict.COOLDOWN
    if (
        rule.history_s is not None
        and rule.reentry_move_pct is not None
        and elapsed_ns < rule.history_s * _NS_PER_S
        and previous.last_direction == signal.direction.value
        and moved_pct is not None
        and moved_pct <= rule.reentry_move_pct
    ):
        return Verdict.DUPLICATE_SETUP
    return Verdict.ALLOW


def keep_until_ns(rule: CooldownRule, signal: Signal) -> int:
    """Event time after which this alert no longer affects decisions (what the store may forget)."""
    horizon_s = max(rule.cooldown_s, rule.history_s or 0.0)
    return signal.ts_event_ns + int(horizon_s * _NS_PER_S)


class CooldownBook:
    """The in-memory cooldown states, loaded from the store at start and updated as alerts are accepted."""

    def __init__(self, rules: Mapping[str, CooldownRule]) -> None:
        self._rules = rules
        self._states: dict[CooldownKey, CooldownState] = {}

    def load(self, key: CooldownKey, state: CooldownState) -> None:
        self._states[key] = state

    def check(self, signal: Signal) -> Verdict:
        return decide(rule_for(self._rules, signal), self._states.get(cooldown_key(signal)), signal)

    def record(self, signal: Signal) -> tuple[CooldownState | None, int | None]:
        """Remember `signal` as the latest alert of its key. Returns (previous state for `restore`,
        keep-until time to persist, or None when no rule applies)."""
        rule = rule_for(self._rules, signal)
        key = cooldown_key(signal)
        previous = self._states.get(key)
        if rule is None:
            return previous, None
        self._states[key] = CooldownState(signal.ts_event_ns, entry_price(signal), signal.direction.value)
        return previous, keep_until_ns(rule, signal)

    def restore(self, signal: Signal, previous: CooldownState | None) -> None:
        """Undo `record` (the alert was not persisted)."""
        key = cooldown_key(signal)
        if previous is None:
            self._states.pop(key, None)
        else:
            self._states[key] = previous
