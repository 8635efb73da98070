"""The simulated symbol universe: names, statuses, price levels and a heavy-tailed spread of liquidity.

Spot has `symbols` TRADING USDT pairs (majors first, then generated names AAAUSDT, AABUSDT, ...), plus
a few non-USDT quotes and a few non-TRADING USDT pairs, so universe filtering has work to do. USD-M has
the first `futures_symbols` USDT names as perpetuals, two quarterly contracts (names with `_`) and two
TradFi perpetuals, so contract-type and underlying-type filtering matters too.
Either market may end with `listings` held-back symbols (status `UNLISTED`, never shown, no liquidity in
the model) that the simulator lists later; they come last, so the other symbols' specs do not change.
"""

from __future__ import annotations

import itertools
import math
import string
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import numpy as np

from cryptoradar.events import Market

_MAJORS: tuple[tuple[str, float], ...] = (
    ("BTC", 87_000.0), ("ETH", 3_000.0), ("BNB", 600.0), ("SOL", 150.0), ("XRP", 2.2), ("DOGE", 0.3),
    ("ADA", 0.8), ("TRX", 0.25), ("AVAX", 35.0), ("LINK", 20.0), ("DOT", 7.0), ("LTC", 100.0),
    ("BCH", 450.0), ("NEAR", 5.0), ("UNI", 12.0), ("ATOM", 8.0), ("APT", 10.0), ("ARB", 0.9),
    ("OP", 2.0), ("FIL", 5.0), ("ETC", 25.0), ("INJ", 25.0), ("SUI", 3.5), ("PEPE", 0.00001),
    ("SHIB", 0.00002), ("TON", 5.0), ("XLM", 0.4), ("HBAR", 0.25), ("ICP", 10.0), ("AAVE", 300.0),
)  # fmt: skip
_OTHER_QUOTES: tuple[tuple[str, str], ...] = (
    ("ETH", "BTC"), ("BNB", "BTC"), ("SOL", "BTC"), ("XRP", "BTC"), ("BTC", "FDUSD"), ("ETH", "FDUSD"),
    ("BTC", "EUR"), ("ETH", "EUR"), ("BNB", "ETH"), ("BTC", "TRY"),
)  # fmt: skip
_NON_TRADING_STATUSES = ("BREAK", "HALT", "END_OF_DAY", "CANCEL_ONLY")
_N_NON_TRADING = 8
UNLISTED = "UNLISTED"
"""Internal status of a symbol the exchange does not (yet, or any more) show; never sent on the wire."""
_LISTING_RANK = 50
"""New listings get the liquidity of a mid-table symbol."""
_TRADFI: tuple[tuple[str, float, str], ...] = (
    ("XAUUSDT", 2_650.0, "COMMODITY"),
    ("TSLAUSDT", 330.0, "EQUITY"),
)


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """One instrument. `quote_per_min` is its mean 1m quote volume; `vol_1m` its long-run 1m return sd."""

    name: str
    base: str
    quote: str
    status: str
    price: float
    price_decimals: int
    qty_decimals: int
    wire_decimals: int
    quote_per_min: float
    vol_1m: float
    factor_loading: float
    trade_quote: float
    contract_type: str = ""
    underlying_type: str = ""
    delivery_ms: int = 0

    @property
    def trading(self) -> bool:
        return self.status == "TRADING"

    @property
    def listed(self) -> bool:
        return self.status != UNLISTED


def _generated_bases(exclude: set[str]) -> itertools.chain[str]:
    letters = string.ascii_uppercase
    triples = ("".join(t) for t in itertools.product(letters, repeat=3))
    return itertools.chain(b for b in triples if b not in exclude)


def _spec(
    rng: np.random.Generator, base: str, quote: str, price: float, rank: int, status: str, market: Market
) -> SymbolSpec:
    magnitude = math.floor(math.log10(price))
    if market is Market.SPOT:
        price_dec = min(8, max(2, 5 - magnitude))
        qty_dec = min(5, max(0, magnitude + 1))
        wire_dec = 8
    else:
        price_dec = min(7, max(1, 4 - magnitude))
        qty_dec = min(3, max(0, magnitude - 1))
        wire_dec = price_dec
    liquid = status == "TRADING"
    quote_per_min = 10 ** (6.3 - 1.4 * math.log10(rank + 1) + rng.normal(0.0, 0.3)) if liquid else 0.0
    vol = 0.0008 if rank < 3 else float(rng.uniform(0.0008, 0.0025))
    loading = 0.9 if rank == 0 else float(rng.uniform(0.3, 0.75))
    return SymbolSpec(
        name=base + quote,
        base=base,
        quote=quote,
        status=status,
        price=float(round(price * rng.uniform(0.9, 1.1), price_dec)) if rank >= len(_MAJORS) else price,
        price_decimals=price_dec,
        qty_decimals=qty_dec,
        wire_decimals=wire_dec,
        quote_per_min=quote_per_min,
        vol_1m=vol,
        factor_loading=loading,
        trade_quote=float(rng.uniform(20.0, 300.0)),
    )


def spot_universe(seed: int, n_usdt_trading: int, listings: int = 0) -> list[SymbolSpec]:
    """Deterministic per (seed, n): TRADING USDT pairs in liquidity-rank order, the extras, then `listings`
    held-back USDT pairs (status UNLISTED; `quote_per_min` is the liquidity they get once listed)."""
    rng = np.random.default_rng([seed, 1])
    majors = dict(_MAJORS)
    bases = itertools.chain(majors, _generated_bases(set(majors)))
    specs: list[SymbolSpec] = []
    for rank, base in enumerate(itertools.islice(bases, n_usdt_trading + _N_NON_TRADING)):
        price = majors.get(base) or float(10 ** rng.uniform(-3.5, 2.5))
        status = (
            "TRADING" if rank < n_usdt_trading else _NON_TRADING_STATUSES[rank % len(_NON_TRADING_STATUSES)]
        )
        specs.append(_spec(rng, base, "USDT", price, rank, status, Market.SPOT))
    for base, quote in _OTHER_QUOTES:
        price = majors[base] / majors.get(quote, 1.0) if quote in ("BTC", "ETH") else majors[base]
        price *= 38.0 if quote == "TRY" else 0.92 if quote == "EUR" else 1.0
        specs.append(_spec(rng, base, quote, price, 60, "TRADING", Market.SPOT))
    for base in itertools.islice(bases, listings):
        spec = _spec(
            rng, base, "USDT", float(10 ** rng.uniform(-2.0, 1.0)), _LISTING_RANK, "TRADING", Market.SPOT
        )
        specs.append(replace(spec, status=UNLISTED))
    return specs


def _quarter_delivery(start_ms: int, quarters_ahead: int) -> datetime:
    start = datetime.fromtimestamp(start_ms / 1000, tz=UTC)
    month = ((start.month - 1) // 3 + 1 + quarters_ahead) * 3
    year = start.year + (month - 1) // 12
    month = (month - 1) % 12 + 1
    last_day = (datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)) - timedelta(days=1)
    friday = last_day - timedelta(days=(last_day.weekday() - 4) % 7)
    return friday.replace(hour=8)


def futures_universe(seed: int, n_perpetual: int, start_ms: int, listings: int = 0) -> list[SymbolSpec]:
    """Crypto perpetuals (same names and price levels as spot), two quarterlies, two TradFi perps, then
    `listings` held-back perpetuals (UNLISTED, no contract type until listed)."""
    rng = np.random.default_rng([seed, 2])
    spot_all = spot_universe(seed, max(n_perpetual, 2), listings)
    spot = [s for s in spot_all if s.quote == "USDT" and s.trading]
    specs: list[SymbolSpec] = []
    for rank, s in enumerate(spot[:n_perpetual]):
        spec = _spec(rng, s.base, "USDT", s.price, rank, "TRADING", Market.USDM)
        specs.append(replace(spec, contract_type="PERPETUAL", underlying_type="COIN"))
    for ahead, contract in ((0, "CURRENT_QUARTER"), (1, "NEXT_QUARTER")):
        delivery = _quarter_delivery(start_ms, ahead)
        spec = _spec(rng, "BTC", "USDT", 87_000.0 * (1.01 + ahead * 0.01), 5, "TRADING", Market.USDM)
        name = f"BTCUSDT_{delivery:%y%m%d}"
        specs.append(
            replace(spec, name=name, contract_type=contract, delivery_ms=int(delivery.timestamp() * 1000))
        )
    for name, price, underlying in _TRADFI:
        spec = _spec(rng, name.removesuffix("USDT"), "USDT", price, 20, "TRADING", Market.USDM)
        specs.append(replace(spec, contract_type="PERPETUAL", underlying_type=underlying))
    for s in spot_all[len(spot_all) - listings :] if listings else ():
        spec = _spec(rng, s.base, "USDT", s.price, _LISTING_RANK, "TRADING", Market.USDM)
        specs.append(replace(spec, status=UNLISTED))
    return specs
