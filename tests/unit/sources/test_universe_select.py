"""Universe selection rules (pure)."""

from __future__ import annotations

from cryptoradar.config.binance import UniverseConfig
from cryptoradar.events import Market, Ticker
from cryptoradar.sources.binance.universe import SpotUniverse, select_futures, select_spot
from cryptoradar.sources.binance.wire import ExchangeInfo, SymbolInfo


def spot(name: str, status: str = "TRADING", quote: str = "USDT") -> SymbolInfo:
    return SymbolInfo(symbol=name, status=status, base_asset=name.removesuffix(quote), quote_asset=quote)


def perp(
    name: str, contract: str = "PERPETUAL", underlying: str = "COIN", status: str = "TRADING"
) -> SymbolInfo:
    return SymbolInfo(name, status, name[:-4], "USDT", contract_type=contract, underlying_type=underlying)


def ticker(symbol: str, quote_volume: float) -> Ticker:
    return Ticker(Market.SPOT, symbol, 1.0, 1.0, 1.0, 1.0, 1.0, quote_volume, 0, 0)


CFG = UniverseConfig(
    min_avg_hourly_quote_volume=1000, max_symbols=3, include=("ILLQUSDT",), exclude=("BADUSDT",)
)


def test_spot_rules_status_quote_liquidity_lists_and_cap() -> None:
    infos = [
        spot("AAAUSDT"),
        spot("BBBUSDT"),
        spot("CCCUSDT"),
        spot("DDDUSDT"),
        spot("HALTUSDT", "HALT"),
        spot("ETHBTC", quote="BTC"),
        spot("BADUSDT"),
        spot("ILLQUSDT"),
        spot("THINUSDT"),
    ]
    volumes = {
        "AAAUSDT": 90_000,
        "BBBUSDT": 80_000,
        "CCCUSDT": 70_000,
        "DDDUSDT": 60_000,
        "HALTUSDT": 1e9,
        "ETHBTC": 1e9,
        "BADUSDT": 1e9,
        "ILLQUSDT": 0,
        "THINUSDT": 23_000,
    }
    chosen = select_spot(infos, volumes, CFG)
    assert chosen == {"ILLQUSDT", "AAAUSDT", "BBBUSDT"}  # include first, then by volume, capped at 3
    roomy = CFG.model_copy(update={"max_symbols": 100})
    assert select_spot(infos, volumes, roomy) == {"ILLQUSDT", "AAAUSDT", "BBBUSDT", "CCCUSDT", "DDDUSDT"}


def test_hysteresis_keeps_a_member_until_clearly_below_threshold() -> None:
    cfg = UniverseConfig(min_avg_hourly_quote_volume=1000)
    infos = [spot("AAAUSDT")]
    assert select_spot(infos, {"AAAUSDT": 22_000}, cfg) == frozenset()
    assert select_spot(infos, {"AAAUSDT": 22_000}, cfg, current=frozenset({"AAAUSDT"})) == {"AAAUSDT"}
    assert select_spot(infos, {"AAAUSDT": 18_000}, cfg, current=frozenset({"AAAUSDT"})) == frozenset()


def test_spot_universe_reports_joiners_and_leavers_from_live_tickers() -> None:
    uni = SpotUniverse(UniverseConfig(min_avg_hourly_quote_volume=1000))
    uni.set_exchange_info(ExchangeInfo([spot("AAAUSDT"), spot("BBBUSDT")]))
    uni.set_tickers([ticker("AAAUSDT", 48_000), ticker("BBBUSDT", 100)])
    assert uni.recompute().joined == {"AAAUSDT"}
    uni.on_ticker(ticker("BBBUSDT", 50_000))
    uni.on_ticker(ticker("AAAUSDT", 1_000))
    change = uni.recompute()
    assert change.joined == {"BBBUSDT"}
    assert change.left == {"AAAUSDT"}
    assert not uni.recompute()


def test_a_ticker_of_a_symbol_exchange_info_does_not_know_is_reported_once() -> None:
    uni = SpotUniverse(UniverseConfig())
    assert not uni.on_ticker(ticker("NEWUSDT", 1))  # before any exchangeInfo nothing is known: no hint
    uni.set_exchange_info(ExchangeInfo([spot("AAAUSDT")]))
    assert not uni.on_ticker(ticker("AAAUSDT", 1))
    assert uni.on_ticker(ticker("NEWUSDT", 1))
    assert not uni.on_ticker(ticker("NEWUSDT", 2))
    uni.set_exchange_info(ExchangeInfo([spot("AAAUSDT"), spot("NEWUSDT")]))
    assert not uni.on_ticker(ticker("NEWUSDT", 3))


def test_futures_only_crypto_perpetuals() -> None:
    infos = [
        perp("BTCUSDT"),
        perp("BTCUSDT_261225", "CURRENT_QUARTER"),
        perp("XAUUSDT", underlying="COMMODITY"),
        perp("TSLAUSDT", underlying="EQUITY"),
        perp("OLDUSDT", status="SETTLING"),
        perp("ETHUSDT"),
    ]
    assert select_futures(infos, UniverseConfig()) == {"BTCUSDT", "ETHUSDT"}
