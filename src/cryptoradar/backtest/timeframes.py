"""Timeframes the detectors need but the inputs lack: built by exact resampling, or warned about.

Momentum reads its primary timeframe and every trend timeframe (`15m`, `15m` and `1h` by default) on its
markets; confluence reads its intervals for its symbols on its market; the futures radar reads USD-M
trades and liquidations, which no candle file carries. `plan_timeframes` looks at the loaded bar series
and returns, per missing (market, symbol, interval), the lower interval to build it from, and per
detector a warning when something it needs cannot be had: then it can never fire (issue 13: with only
5m and 1h files momentum produced 0 signals over 1.29 M bars and said nothing).

`resample` is exact: a bucket `[t, t + step)` aligned as Binance aligns klines (to the epoch; weeks to
Monday) becomes one bar with the first open, the highest high, the lowest low, the last close and the
summed amounts, but only when every source bar of the bucket is there. A bucket with a gap is dropped
and counted, never filled: a 15m bar made of two 5m bars would be a different bar from the exchange's.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from operator import attrgetter

from cryptoradar.config.detectors import DetectorsConfig
from cryptoradar.detectors.confluence import DETECTOR as CONFLUENCE
from cryptoradar.detectors.momentum import DETECTOR as MOMENTUM
from cryptoradar.detectors.radar import DETECTOR as RADAR
from cryptoradar.events import Bar, Market
from cryptoradar.sources.archive import interval_ms

__all__ = ["Build", "TimeframePlan", "plan_timeframes", "resample"]

_WEEK_OFFSET_MS = 4 * 86_400_000
"""Binance weeks open on Monday 00:00 UTC; the epoch was a Thursday."""
_NS_PER_MS = 1_000_000
_OPEN, _HIGH, _LOW = attrgetter("open_time_ms"), attrgetter("high"), attrgetter("low")
_VOLUME, _QUOTE_VOLUME, _TRADES = attrgetter("volume"), attrgetter("quote_volume"), attrgetter("trades")
_TAKER_VOLUME, _TAKER_QUOTE_VOLUME = attrgetter("taker_buy_volume"), attrgetter("taker_buy_quote_volume")

Series = tuple[Market, str, str]


@dataclass(frozen=True, slots=True)
class Build:
    """One series to build: `target` interval of (market, symbol) from its `source` interval."""

    market: Market
    symbol: str
    target: str
    source: str


@dataclass(slots=True)
class TimeframePlan:
    builds: list[Build] = field(default_factory=list)
    warnings: dict[str, str] = field(default_factory=dict)
    """Per detector: where (" for SYMBOLS" or nothing: anywhere) and why it can never fire, after a colon."""
    built: dict[Build, tuple[int, int]] = field(default_factory=dict)
    """After building: (bars made, buckets dropped for a gap) per build."""

    def notes(self) -> list[str]:
        """One line per build and per warning, for the console and the report."""
        lines = []
        for b in self.builds:
            made, dropped = self.built.get(b, (0, 0))
            gaps = f", {dropped:,} incomplete buckets left out" if dropped else ""
            lines.append(f"built {b.market.value} {b.symbol} {b.target} from {b.source}: {made:,} bars{gaps}")
        lines += [f"{detector} will never fire{why}" for detector, why in self.warnings.items()]
        return lines


def _bucket_ms(open_ms: int, step: int) -> int:
    offset = _WEEK_OFFSET_MS if step % (7 * 86_400_000) == 0 else 0
    return (open_ms - offset) // step * step + offset


def resample(bars: Sequence[Bar], interval: str) -> tuple[list[Bar], int]:
    """Closed bars of one series (one market, symbol and interval, in time order) as `interval` bars.

    Returns (bars, buckets dropped because a source bar is missing). The target must be a whole
    multiple of the source interval; bars out of order or repeated count as missing.
    """
    if not bars:
        return [], 0
    source_ms, step = interval_ms(bars[0].interval), interval_ms(interval)
    if source_ms is None or step is None or step % source_ms or step <= source_ms:
        raise ValueError(f"cannot build {interval} from {bars[0].interval}: not a whole multiple")
    per_bucket = step // source_ms
    out: list[Bar] = []
    dropped = 0
    group: list[Bar] = []
    start = end = -1
    for b in bars:
        if not b.closed:
            continue
        t = b.open_time_ms
        if start <= t < end:
            group.append(b)
            continue
        dropped += _close_bucket(group, start, step, per_bucket, source_ms, interval, out)
        start = _bucket_ms(t, step)
        end = start + step
        group = [b]
    dropped += _close_bucket(group, start, step, per_bucket, source_ms, interval, out)
    return out, dropped


def _close_bucket(
    group: list[Bar], start: int, step: int, per_bucket: int, source_ms: int, interval: str, out: list[Bar]
) -> int:
    """Append the bucket's bar when it is complete; 1 when it had to be dropped, else 0."""
    if not group:
        return 0
    if len(group) != per_bucket or list(map(_OPEN, group)) != list(range(start, start + step, source_ms)):
        return 1
    first, last = group[0], group[-1]
    close_ms = start + step - 1
    out.append(
        Bar(
            first.market, first.symbol, interval, start, close_ms, first.open,
            max(map(_HIGH, group)), min(map(_LOW, group)), last.close,
            math.fsum(map(_VOLUME, group)), math.fsum(map(_QUOTE_VOLUME, group)), sum(map(_TRADES, group)),
            math.fsum(map(_TAKER_VOLUME, group)), math.fsum(map(_TAKER_QUOTE_VOLUME, group)), True,
            (close_ms + 1) * _NS_PER_MS, last.ts_recv_ns,
        )
    )  # fmt: skip
    return 0


def plan_timeframes(
    series: Iterable[Series], config: DetectorsConfig, has_radar_events: bool
) -> TimeframePlan:
    """What to build, and which detectors can never fire, given the loaded bar series."""
    have: dict[tuple[Market, str], set[str]] = {}
    for market, symbol, interval in series:
        have.setdefault((market, symbol), set()).add(interval)
    plan = TimeframePlan()
    planned: set[Build] = set()

    def need(
        detector: str,
        markets: Sequence[Market],
        symbols: Iterable[str] | None,
        intervals: Sequence[str],
        *,
        every: bool,
    ) -> None:
        """`every`: the detector needs all `intervals` of a symbol (momentum: primary and trends), else
        any one (confluence runs per interval: built only when none of them is loaded)."""
        keys = [k for k in have if k[0] in markets and (symbols is None or k[1] in symbols)]
        market_names = "/".join(m.value for m in markets)
        if not keys:
            wanted = f" for {', '.join(symbols)}" if symbols is not None else ""
            setting = "symbols" if symbols is not None else "markets"
            plan.warnings[detector] = (
                f": no {market_names} bars{wanted} in the inputs (check --market and detectors.{detector}.{setting})"
            )
            return
        blocked: dict[str, list[str]] = {}
        for key in sorted(keys):
            if not every and have[key].intersection(intervals):
                continue  # runs on what is loaded; each interval is an independent run, none is missing
            builds, missing = [], []
            available = set(have[key])
            # Shortest first: a built 15m is then the source of 1h (4 bars a bucket, not 60).
            for interval in sorted(intervals, key=lambda iv: interval_ms(iv) or 0):
                if interval in available:
                    continue
                source = _source_for(interval, available)
                if source is None:
                    missing.append(interval)
                else:
                    builds.append(Build(key[0], key[1], interval, source))
                    available.add(interval)
            if missing and (every or len(missing) == len(intervals)):
                blocked[key[1]] = missing
            for build in builds:
                if build not in planned:
                    planned.add(build)
                    plan.builds.append(build)
        if blocked:
            scope = "" if len(blocked) == len(keys) else f" for {', '.join(blocked)}"
            by_missing: dict[tuple[str, ...], list[str]] = {}
            for symbol, ivs in blocked.items():
                by_missing.setdefault(tuple(ivs), []).append(symbol)
            if len(by_missing) == 1:  # the symbols are in the scope (or it is all of them)
                cannot = ", ".join(next(iter(by_missing)))
            else:
                cannot = "; ".join(
                    f"{', '.join(ivs)} for {', '.join(syms)}" for ivs, syms in by_missing.items()
                )
            wants = "all of" if every else "one of"
            plan.warnings[detector] = (
                f"{scope}: needs {wants} {', '.join(intervals)} and cannot build {cannot} "
                "(no loaded lower interval divides it)"
            )

    momentum, confluence = config.momentum, config.confluence
    if momentum.enabled:
        intervals = tuple(dict.fromkeys((momentum.timeframe, *momentum.trend_timeframes)))
        need(MOMENTUM, [Market(m) for m in momentum.markets], None, intervals, every=True)
    if confluence.enabled:
        need(CONFLUENCE, [Market(confluence.market)], confluence.symbols, confluence.intervals, every=False)
    if config.radar.enabled and not has_radar_events:
        plan.warnings[RADAR] = (
            ": it reads USD-M aggTrades and liquidations, and no input carries them (candles cannot)"
        )
    return plan


def _source_for(target: str, available: set[str]) -> str | None:
    """The coarsest available interval that divides `target` (fewest bars to add up), or None."""
    step = interval_ms(target)
    if step is None:
        return None
    divisors = [
        (length, iv)
        for iv in available
        if (length := interval_ms(iv)) is not None and length < step and step % length == 0
    ]
    return max(divisors)[1] if divisors else None
