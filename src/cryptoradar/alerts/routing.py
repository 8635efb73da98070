"""Routes and silences in Alertmanager's vocabulary; pure functions over an alert's labels.

Labels of an alert: the signal's own `labels`, then (overriding them, so a detector cannot spoof them)
detector, kind, symbol, timeframe, severity, direction, and `symbol_group`: the comma-joined names of
the configured groups holding the symbol. A matcher on `symbol_group` holds when any one group
satisfies it. A label that is absent reads as "" (so `x=""` matches alerts without `x`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

import msgspec

from cryptoradar.config.alerts import AlertsConfig, Matcher, MatchOp, parse_matcher
from cryptoradar.events import Signal

SYMBOL_GROUP = "symbol_group"


class CompiledMatcher:
    __slots__ = ("_negate", "_pattern", "_value", "name")

    def __init__(self, matcher: Matcher) -> None:
        self.name = matcher.name
        self._value = matcher.value
        self._negate = matcher.op in (MatchOp.NOT_EQUAL, MatchOp.NOT_REGEX)
        regex = matcher.op in (MatchOp.REGEX, MatchOp.NOT_REGEX)
        self._pattern = re.compile(matcher.value) if regex else None

    def _holds(self, value: str) -> bool:
        if self._pattern is not None:
            return self._pattern.fullmatch(value) is not None
        return value == self._value

    def matches(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.name, "")
        if self.name == SYMBOL_GROUP:
            held = any(self._holds(group) for group in (value.split(",") if value else [""]))
        else:
            held = self._holds(value)
        return held != self._negate


def matches_all(matchers: Iterable[CompiledMatcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)


def alert_labels(signal: Signal, symbol_groups: Mapping[str, Sequence[str]]) -> dict[str, str]:
    labels = dict(signal.labels)
    labels.update(
        detector=signal.detector,
        kind=signal.kind,
        symbol=signal.symbol,
        timeframe=signal.timeframe,
        severity=signal.severity.value,
        direction=signal.direction.value,
    )
    labels[SYMBOL_GROUP] = ",".join(
        name for name, symbols in symbol_groups.items() if signal.symbol in symbols
    )
    return labels


class RouteTarget(msgspec.Struct, frozen=True):
    channel: str
    group_key: str
    group_wait_s: float


class _Route(msgspec.Struct, frozen=True):
    matchers: tuple[CompiledMatcher, ...]
    channels: tuple[str, ...]
    continue_: bool
    group_by: tuple[str, ...]
    group_wait_s: float


class Router:
    """Maps alert labels to (channel, group) targets; each channel appears at most once per alert."""

    def __init__(self, config: AlertsConfig) -> None:
        self._routes = tuple(
            _Route(
                matchers=tuple(CompiledMatcher(m) for m in r.matchers),
                channels=r.channels,
                continue_=r.continue_,
                group_by=r.group_by if r.group_by is not None else config.group_by,
                group_wait_s=r.group_wait_s if r.group_wait_s is not None else config.group_wait_s,
            )
            for r in config.routes
        )
        self._default = _Route((), config.default_channels, False, config.group_by, config.group_wait_s)

    def route(self, labels: Mapping[str, str]) -> list[RouteTarget]:
        chosen: list[tuple[int, _Route]] = []
        for index, route in enumerate(self._routes):
            if matches_all(route.matchers, labels):
                chosen.append((index, route))
                if not route.continue_:
                    break
        if not chosen:
            chosen.append((-1, self._default))
        targets: dict[str, RouteTarget] = {}
        for index, route in chosen:
            group_values = "|".join(labels.get(name, "") for name in route.group_by)
            for channel in route.channels:
                if channel not in targets:
                    key = f"{index}|{channel}|{group_values}"
                    targets[channel] = RouteTarget(channel, key, route.group_wait_s)
        return list(targets.values())


class ActiveSilence(msgspec.Struct, frozen=True):
    id: int
    matchers: tuple[CompiledMatcher, ...]
    until_ns: int


def compile_silence(silence_id: int, matchers: Sequence[str], until_ns: int) -> ActiveSilence:
    """Raises ValueError on a matcher that does not parse (the API turns that into a 400)."""
    return ActiveSilence(silence_id, tuple(CompiledMatcher(parse_matcher(m)) for m in matchers), until_ns)


def silenced_by(silences: Iterable[ActiveSilence], labels: Mapping[str, str], at_ns: int) -> int | None:
    """The id of the first silence in force at `at_ns` matching `labels`, else None.

    A silence without matchers would mute everything; `compile_silence` callers reject that."""
    for silence in silences:
        if at_ns < silence.until_ns and matches_all(silence.matchers, labels):
            return silence.id
    return None
