"""The aiohttp apps: REST endpoints and WebSocket routes of the spot and USD-M simulators."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from cryptoradar.events import Market
from cryptoradar.sim import wire
from cryptoradar.sim.model import C
from cryptoradar.sim.options import SUPPORTED_INTERVALS_MS
from cryptoradar.sim.rest import (
    ApiError,
    RestGate,
    json_response,
    kline_window,
    param_int,
    param_interval,
    param_limit,
    param_symbol,
    param_symbols,
)
from cryptoradar.sim.runtime import MarketRuntime
from cryptoradar.sim.streams import Route
from cryptoradar.sim.universe import SymbolSpec

_PERPETUAL_DELIVERY_MS = 4_133_404_800_000
_HOUR_MS = 3_600_000


def _one(_: web.Request) -> int:
    return 1


class MarketApp:
    """Builds one market's aiohttp application around its runtime."""

    def __init__(self, runtime: MarketRuntime, gate: RestGate, now_ms: Callable[[], int], intervals: tuple[str, ...],
                 weight_limit_1m: int, catch_up: Callable[[], None]) -> None:  # fmt: skip
        self.rt = runtime
        self.catch_up = catch_up
        self.gate = gate
        self.now_ms = now_ms
        self.intervals = intervals
        self.weight_limit_1m = weight_limit_1m
        self.symbols = runtime.listed
        self.app = web.Application(middlewares=[gate.middleware])
        if runtime.market is Market.SPOT:
            self._spot_routes()
        else:
            self._futures_routes()

    # -- routing ------------------------------------------------------------------------------------------

    def _spot_routes(self) -> None:
        g, app = self.gate, self.app
        g.route(app, "/api/v3/ping", self.ping, _one)
        g.route(app, "/api/v3/time", self.time, _one)
        g.route(app, "/api/v3/exchangeInfo", self.spot_exchange_info, lambda _: 20)
        g.route(app, "/api/v3/klines", self.klines, lambda _: 2)
        g.route(app, "/api/v3/aggTrades", self.agg_trades, lambda _: 4)
        g.route(app, "/api/v3/ticker/24hr", self.ticker_24hr, _spot_ticker_weight)
        g.route(app, "/api/v3/depth", self.depth, _spot_depth_weight)
        g.route(app, "/api/v3/ticker/price", self.ticker_price, lambda r: 2 if r.query.get("symbol") else 4)
        g.route(
            app, "/api/v3/ticker/bookTicker", self.book_ticker, lambda r: 2 if r.query.get("symbol") else 4
        )
        g.route(app, "/api/v3/avgPrice", self.avg_price, lambda _: 2)
        g.route(app, "/api/v3/trades", self.trades, lambda _: 25)
        self._ws_routes("", Route.SPOT)

    def _futures_routes(self) -> None:
        g, app = self.gate, self.app
        g.route(app, "/fapi/v1/ping", self.ping, _one)
        g.route(app, "/fapi/v1/time", self.time, _one)
        g.route(app, "/fapi/v1/exchangeInfo", self.futures_exchange_info, _one)
        g.route(app, "/fapi/v1/klines", self.klines, _futures_klines_weight)
        g.route(app, "/fapi/v1/aggTrades", self.agg_trades, lambda _: 20)
        g.route(app, "/fapi/v1/ticker/24hr", self.ticker_24hr, lambda r: 1 if r.query.get("symbol") else 40)
        g.route(
            app, "/fapi/v1/premiumIndex", self.premium_index, lambda r: 1 if r.query.get("symbol") else 10
        )
        g.route(app, "/fapi/v1/fundingRate", self.funding_rate, lambda _: 0, header=False)
        g.route(app, "/fapi/v1/depth", self.depth, lambda _: 2)
        g.route(app, "/fapi/v1/ticker/price", self.ticker_price, lambda r: 1 if r.query.get("symbol") else 2)
        g.route(
            app, "/fapi/v1/ticker/bookTicker", self.book_ticker, lambda r: 2 if r.query.get("symbol") else 5
        )
        g.route(app, "/fapi/v1/trades", self.trades, lambda _: 5)
        g.route(app, "/fapi/v1/openInterest", self.open_interest, _one)
        g.route(app, "/fapi/v1/markPriceKlines", self.klines, _futures_klines_weight)
        self._ws_routes("/public", Route.PUBLIC)
        self._ws_routes("/market", Route.MARKET)
        self._ws_routes("", Route.UNROUTED)

    def _ws_routes(self, prefix: str, route: Route) -> None:
        hub = self.rt.hub

        async def raw(request: web.Request) -> web.StreamResponse:
            names = [n for n in request.match_info.get("streams", "").split("/") if n]
            return await hub.handle(request, route, False, names)

        async def combined(request: web.Request) -> web.StreamResponse:
            names = [n for n in request.query.get("streams", "").split("/") if n]
            return await hub.handle(request, route, True, names)

        self.app.router.add_get(f"{prefix}/ws", raw)
        self.app.router.add_get(prefix + "/ws/{streams:.*}", raw)
        self.app.router.add_get(f"{prefix}/stream", combined)

    # -- shared endpoints --------------------------------------------------------------------------------

    async def ping(self, _: web.Request) -> web.Response:
        return json_response({})

    async def time(self, _: web.Request) -> web.Response:
        return json_response({"serverTime": self.now_ms()})

    async def klines(self, request: web.Request) -> web.Response:
        # The market loop ticks every few ms of wall time; under load it can lag the clock. Binance serves
        # a closed bar's final values as soon as it closes, so bring the model up to now first.
        self.catch_up()
        j = param_symbol(request, self.symbols)
        interval = param_interval(request, self.intervals)
        maximum = 1000 if self.rt.market is Market.SPOT else 1500
        limit = param_limit(request, 500, maximum)
        interval_ms = SUPPORTED_INTERVALS_MS[interval]
        start, end, take_last = kline_window(param_int(request, "startTime"), param_int(request, "endTime"), limit,
                                             interval_ms, self.now_ms())  # fmt: skip
        rows = self.rt.bars(j, interval, start, end, with_current=True)
        rows = rows[-limit:] if take_last else rows[:limit]
        return json_response([wire.rest_kline(r, interval_ms) for r in rows])

    async def agg_trades(self, request: web.Request) -> web.Response:
        """`aggTrades` (spot weight 4, USD-M 20): newest `limit` by default; `fromId` pages by id (inclusive); `startTime`/`endTime`
        (inclusive, at most one hour apart, either alone means one hour from/to it) filter by trade time."""
        self.catch_up()
        j = param_symbol(request, self.symbols)
        limit = param_limit(request, 500, 1000)
        from_id = param_int(request, "fromId")
        start, end = param_int(request, "startTime"), param_int(request, "endTime")
        if from_id is not None and (start is not None or end is not None):
            raise ApiError(-1128, "Combination of optional parameters invalid.")
        if start is not None and end is not None and end - start > _HOUR_MS:
            raise ApiError(-1127, "More than 1 hours between startTime and endTime.")
        self.rt.track_trades(j, self.now_ms())
        kept = list(self.rt.agg_trades.get(j, ()))
        if from_id is not None:
            rows = [t for t in kept if t.agg_id >= from_id][:limit]
        elif start is not None or end is not None:
            lo = start if start is not None else (end or 0) - _HOUR_MS
            hi = end if end is not None else lo + _HOUR_MS
            rows = [t for t in kept if lo <= t.trade_ms <= hi][:limit]
        else:
            rows = kept[-limit:]
        return json_response([wire.rest_agg_trade(self.rt.market, t) for t in rows])

    async def ticker_24hr(self, request: web.Request) -> web.Response:
        chosen = param_symbols(request, self.symbols)
        now = self.now_ms()
        specs = self.rt.model.specs
        if chosen is None:
            chosen = [j for j in self.symbols.values() if specs[j].trading or self.rt.market is Market.SPOT]
        rows = [wire.rest_ticker(self.rt.market, self.rt.ticker(j, now)) for j in chosen]
        single = request.query.get("symbol") is not None
        return json_response(rows[0] if single else rows)

    def _chosen(self, request: web.Request) -> list[int]:
        chosen = param_symbols(request, self.symbols)
        return (
            chosen
            if chosen is not None
            else [j for j in self.symbols.values() if self.rt.model.specs[j].trading]
        )

    def _one_or_all(self, request: web.Request, rows: list[dict[str, object]]) -> web.Response:
        return json_response(rows[0] if request.query.get("symbol") is not None else rows)

    async def ticker_price(self, request: web.Request) -> web.Response:
        m, now = self.rt.model, self.now_ms()
        rows: list[dict[str, object]] = [
            {"symbol": m.specs[j].name, "price": m.fmt_price(j, float(m.state()[j, C]))}
            for j in self._chosen(request)
        ]
        if self.rt.market is Market.USDM:
            for row in rows:
                row["time"] = now
        return self._one_or_all(request, rows)

    async def book_ticker(self, request: web.Request) -> web.Response:
        """Best bid/ask one tick around the last price, as the depth endpoint and the bookTicker stream."""
        m, now = self.rt.model, self.now_ms()
        rows: list[dict[str, object]] = []
        for j in self._chosen(request):
            close, tick = float(m.state()[j, C]), 10.0 ** -m.specs[j].price_decimals
            row: dict[str, object] = {"symbol": m.specs[j].name, "bidPrice": m.fmt_price(j, close - tick),
                                      "bidQty": m.fmt_qty(j, 1.0), "askPrice": m.fmt_price(j, close + tick),
                                      "askQty": m.fmt_qty(j, 1.0)}  # fmt: skip
            if self.rt.market is Market.USDM:
                row.update({"time": now, "lastUpdateId": now})
            rows.append(row)
        return self._one_or_all(request, rows)

    async def avg_price(self, request: web.Request) -> web.Response:
        """Spot `avgPrice`: the quote-weighted mean price of the last 5 minutes."""
        j = param_symbol(request, self.symbols)
        now = self.now_ms()
        rows = self.rt.bars(j, "1m", now - 5 * 60_000, now, with_current=True)
        volume = sum(float(r[5]) for r in rows)
        quote = sum(float(r[6]) for r in rows)
        price = quote / volume if volume > 0 else float(self.rt.model.state()[j, C])
        return json_response({"mins": 5, "price": self.rt.model.fmt_price(j, price), "closeTime": now})

    async def trades(self, request: web.Request) -> web.Response:
        """Recent trades: the simulator's aggregate trades, one trade each (id = the aggregate's first id)."""
        self.catch_up()
        j = param_symbol(request, self.symbols)
        limit = param_limit(request, 500, 1000)
        self.rt.track_trades(j, self.now_ms())
        rows = list(self.rt.agg_trades.get(j, ()))[-limit:]
        return json_response([wire.rest_trade(self.rt.market, t) for t in rows])

    async def open_interest(self, request: web.Request) -> web.Response:
        """USD-M `openInterest`: a seeded, slowly varying figure (about 2 hours of quote volume in contracts)."""
        j = param_symbol(request, self.symbols)
        m = self.rt.model
        close = float(m.state()[j, C])
        contracts = float(self.rt.window_24h()["quote"][j]) / 12 / close
        return json_response(
            {"symbol": m.specs[j].name, "openInterest": m.fmt_qty(j, contracts), "time": self.now_ms()}
        )

    async def depth(self, request: web.Request) -> web.Response:
        j = param_symbol(request, self.symbols)
        limit = param_limit(request, 100, 5000)
        m = self.rt.model
        close = float(m.state()[j, C])
        tick = 10.0 ** -m.specs[j].price_decimals
        levels = min(limit, 20)
        bids = [[m.fmt_price(j, close - (i + 1) * tick), m.fmt_qty(j, 1.0 + i)] for i in range(levels)]
        asks = [[m.fmt_price(j, close + (i + 1) * tick), m.fmt_qty(j, 1.0 + i)] for i in range(levels)]
        body: dict[str, object] = {"lastUpdateId": self.now_ms(), "bids": bids, "asks": asks}
        if self.rt.market is Market.USDM:
            body.update({"E": self.now_ms(), "T": self.now_ms()})
        return json_response(body)

    # -- exchangeInfo ------------------------------------------------------------------------------------

    def _rate_limits(self) -> list[dict[str, object]]:
        return [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": self.weight_limit_1m,
            },
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
            {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
        ]

    async def spot_exchange_info(self, request: web.Request) -> web.Response:
        chosen = param_symbols(request, self.symbols)
        status = request.query.get("symbolStatus")
        if status is not None and chosen is not None:
            raise ApiError(-1128, "Combination of optional parameters invalid.")
        listed = chosen if chosen is not None else self.symbols.values()
        specs = [self.rt.model.specs[j] for j in listed]
        symbols = [_spot_symbol(s) for s in specs if status is None or s.status == status]
        return json_response({"timezone": "UTC", "serverTime": self.now_ms(), "rateLimits": self._rate_limits(),
                              "exchangeFilters": [], "symbols": symbols})  # fmt: skip

    async def futures_exchange_info(self, _: web.Request) -> web.Response:
        assets = [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"}]
        symbols = [_futures_symbol(self.rt.model.specs[j]) for j in self.symbols.values()]
        return json_response({"timezone": "UTC", "serverTime": self.now_ms(), "futuresType": "U_MARGINED",
                              "rateLimits": self._rate_limits(), "exchangeFilters": [], "assets": assets,
                              "symbols": symbols})  # fmt: skip

    # -- futures only ------------------------------------------------------------------------------------

    async def premium_index(self, request: web.Request) -> web.Response:
        chosen = param_symbols(request, self.symbols)
        now = self.now_ms()
        rows = [self._premium(j, now) for j in (chosen if chosen is not None else self.symbols.values())]
        return json_response(rows[0] if request.query.get("symbol") else rows)

    def _premium(self, j: int, now_ms: int) -> dict[str, object]:
        mark, index, rate, next_ms = self.rt.mark_info(j, now_ms)
        return {"symbol": self.rt.model.specs[j].name, "markPrice": mark, "indexPrice": index, "estimatedSettlePrice": index,
                "lastFundingRate": rate, "interestRate": "0.00010000", "nextFundingTime": next_ms, "time": now_ms}  # fmt: skip

    async def funding_rate(self, request: web.Request) -> web.Response:
        j = param_symbol(request, self.symbols)
        limit = param_limit(request, 100, 1000)
        now = self.now_ms()
        period = 8 * 3_600_000
        start = param_int(request, "startTime")
        end = min(param_int(request, "endTime") or now, now)
        first = self.rt.model.first_open_ms
        lo = max(first, start if start is not None else end - limit * period)
        times = range((lo + period - 1) // period * period, end + 1, period)
        rows = []
        for t in times:
            bars = self.rt.bars(j, "1m", t - 60_000, t - 60_000, with_current=False)
            mark = bars[0][4] if bars else ""
            rows.append({"symbol": self.rt.model.specs[j].name, "fundingTime": t,
                         "fundingRate": f"{self.rt.funding_rate(j, t):.8f}", "markPrice": mark})  # fmt: skip
        return json_response(rows[:limit] if start is not None else rows[-limit:])


def _spot_ticker_weight(request: web.Request) -> int:
    if request.query.get("symbol"):
        return 2
    raw = request.query.get("symbols")
    if not raw:
        return 80
    n = raw.count(",") + 1
    return 2 if n <= 20 else 40 if n <= 100 else 80


def _spot_depth_weight(request: web.Request) -> int:
    limit = param_int(request, "limit") or 100
    return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250


def _futures_klines_weight(request: web.Request) -> int:
    limit = param_int(request, "limit")
    if limit is None:
        return 5
    return 1 if limit <= 100 else 2 if limit <= 500 else 5 if limit <= 1000 else 10


def _spot_symbol(s: SymbolSpec) -> dict[str, object]:
    tick, step = f"{10.0**-s.price_decimals:.8f}", f"{10.0**-s.qty_decimals:.8f}"
    filters = [
        {"filterType": "PRICE_FILTER", "minPrice": tick, "maxPrice": "1000000.00000000", "tickSize": tick},
        {"filterType": "LOT_SIZE", "minQty": step, "maxQty": "9000000.00000000", "stepSize": step},
        {
            "filterType": "MARKET_LOT_SIZE",
            "minQty": "0.00000000",
            "maxQty": "1000000.00000000",
            "stepSize": "0.00000000",
        },
        {
            "filterType": "NOTIONAL",
            "minNotional": "5.00000000",
            "applyMinToMarket": True,
            "maxNotional": "9000000.00000000",
            "applyMaxToMarket": False,
            "avgPriceMins": 5,
        },
        {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
    ]
    return {
        "symbol": s.name, "status": s.status, "baseAsset": s.base, "baseAssetPrecision": 8, "quoteAsset": s.quote,
        "quotePrecision": 8, "quoteAssetPrecision": 8, "baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True, "ocoAllowed": True, "otoAllowed": True, "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True, "cancelReplaceAllowed": True, "amendAllowed": True, "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False, "filters": filters, "permissions": [], "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }  # fmt: skip


def _futures_symbol(s: SymbolSpec) -> dict[str, object]:
    tick, step = (
        f"{10.0**-s.price_decimals:.{s.price_decimals}f}",
        f"{10.0**-s.qty_decimals:.{s.qty_decimals}f}",
    )
    filters = [
        {"filterType": "PRICE_FILTER", "minPrice": tick, "maxPrice": "4529764", "tickSize": tick},
        {"filterType": "LOT_SIZE", "minQty": step, "maxQty": "1000", "stepSize": step},
        {"filterType": "MARKET_LOT_SIZE", "minQty": step, "maxQty": "120", "stepSize": step},
        {"filterType": "MAX_NUM_ORDERS", "limit": 200},
        {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
        {"filterType": "MIN_NOTIONAL", "notional": "5"},
        {
            "filterType": "PERCENT_PRICE",
            "multiplierUp": "1.0500",
            "multiplierDown": "0.9500",
            "multiplierDecimal": "4",
        },
    ]
    return {
        "symbol": s.name, "pair": s.base + s.quote, "contractType": s.contract_type,
        "deliveryDate": s.delivery_ms or _PERPETUAL_DELIVERY_MS, "onboardDate": 1569398400000, "status": s.status,
        "maintMarginPercent": "2.5000", "requiredMarginPercent": "5.0000", "baseAsset": s.base, "quoteAsset": s.quote,
        "marginAsset": "USDT", "pricePrecision": s.price_decimals, "quantityPrecision": s.qty_decimals,
        "baseAssetPrecision": 8, "quotePrecision": 8, "underlyingType": s.underlying_type, "underlyingSubType": [],
        "triggerProtect": "0.0500", "liquidationFee": "0.012500", "marketTakeBound": "0.05", "maxMoveOrderLimit": 10000,
        "filters": filters, "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET"],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"], "permissionSets": ["GRID", "COPY"],
    }  # fmt: skip
