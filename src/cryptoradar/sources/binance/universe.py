"""Which symbols to watch: the spot quote-asset universe by liquidity, and USD-M crypto perpetuals.

Selection rules (pure functions, tested without I/O):

- spot: status TRADING, quote asset = `quote_asset`, not excluded, average hourly quote volume (24 h quote
  volume / 24) at least `min_avg_hourly_quote_volume`; `include` names are kept whenever they trade;
  ranked by quote volume and capped at `max_symbols` (includes first). A symbol already selected stays
  until its volume falls below `LEAVE_FRACTION` of the threshold, so a symbol near the line does not flap.
- futures: contract type PERPETUAL, no `_` in the name, crypto underlying (`COIN`), status TRADING, quote
  asset = `quote_asset`.

`SpotUniverse` keeps the latest exchangeInfo and 24 h quote volumes (from REST, then live from
`!miniTicker@arr` tickers) and reports joiners and leavers on `recompute()`. A ticker for a symbol the
latest exchangeInfo does not know is a new listing's first sign: `on_ticker` says so, once per symbol.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import NamedTuple

from cryptoradar.config.binance import UniverseConfig
from cryptoradar.events import Ticker
from cryptoradar.sources.binance import wire

__all__ = [
    "FuturesUniverse",
    "SpotUniverse",
    "UniverseChange",
    "select_futures",
    "select_spot",
]

LEAVE_FRACTION = 0.8
CRYPTO_UNDERLYING = frozenset({"COIN"})


class UniverseChange(NamedTuple):
    joined: frozenset[str]
    left: frozenset[str]

    def __bool__(self) -> bool:
        return bool(self.joined or self.left)


def select_spot(
    symbols: Iterable[wire.SymbolInfo],
    quote_volume_24h: Mapping[str, float],
    config: UniverseConfig,
    current: frozenset[str] = frozenset(),
) -> frozenset[str]:
    """The spot symbols to watch; see the module docstring."""
    include = set(config.include)
    exclude = set(config.exclude)
    threshold = config.min_avg_hourly_quote_volume
    forced: list[str] = []
    liquid: list[str] = []
    for info in symbols:
        name = info.symbol
        if info.status != "TRADING" or info.quote_asset != config.quote_asset or name in exclude:
            continue
        if name in include:
            forced.append(name)
            continue
        hourly = quote_volume_24h.get(name, 0.0) / 24
        needed = threshold * LEAVE_FRACTION if name in current else threshold
        if hourly >= needed:
            liquid.append(name)
    liquid.sort(key=lambda s: (-quote_volume_24h.get(s, 0.0), s))
    forced.sort()
    return frozenset((forced + liquid)[: config.max_symbols])


def select_futures(symbols: Iterable[wire.SymbolInfo], config: UniverseConfig) -> frozenset[str]:
    """USD-M crypto perpetuals with the configured quote asset; see the module docstring."""
    exclude = set(config.exclude)
    return frozenset(
        info.symbol
        for info in symbols
        if info.contract_type == "PERPETUAL"
        and "_" not in info.symbol
        and info.underlying_type in CRYPTO_UNDERLYING
        and info.status == "TRADING"
        and info.quote_asset == config.quote_asset
        and info.symbol not in exclude
    )


class SpotUniverse:
    """The selected spot symbols plus what they were selected from."""

    def __init__(self, config: UniverseConfig) -> None:
        self.config = config
        self.symbols: frozenset[str] = frozenset()
        self._infos: list[wire.SymbolInfo] = []
        self._known: frozenset[str] = frozenset()
        self._reported: set[str] = set()
        self._quote_volume_24h: dict[str, float] = {}

    def set_exchange_info(self, info: wire.ExchangeInfo) -> None:
        self._infos = list(info.symbols)
        self._known = frozenset(i.symbol for i in self._infos)

    def set_tickers(self, tickers: Iterable[Ticker]) -> None:
        """Rolling 24 h quote volumes, from REST `ticker/24hr` or the `!miniTicker@arr` stream."""
        for ticker in tickers:
            self._quote_volume_24h[ticker.symbol] = ticker.quote_volume

    def on_ticker(self, ticker: Ticker) -> bool:
        """Records the ticker's 24 h quote volume. True the first time a symbol unknown to the latest
        exchangeInfo shows up (probably a new listing: refresh exchangeInfo); False before any exchangeInfo."""
        self._quote_volume_24h[ticker.symbol] = ticker.quote_volume
        if not self._known or ticker.symbol in self._known or ticker.symbol in self._reported:
            return False
        self._reported.add(ticker.symbol)
        return True

    def recompute(self) -> UniverseChange:
        """Apply the rules to the latest data; returns who joined and who left since last time."""
        new = select_spot(self._infos, self._quote_volume_24h, self.config, self.symbols)
        change = UniverseChange(new - self.symbols, self.symbols - new)
        self.symbols = new
        return change


class FuturesUniverse:
    def __init__(self, config: UniverseConfig) -> None:
        self.config = config
        self.symbols: frozenset[str] = frozenset()

    def update(self, info: wire.ExchangeInfo) -> UniverseChange:
        new = select_futures(info.symbols, self.config)
        change = UniverseChange(new - self.symbols, self.symbols - new)
        self.symbols = new
        return change
