"""The simulator: two aiohttp servers (spot, USD-M) on 127.0.0.1 driven by one accelerated exchange clock.

aiohttp serves REST and WebSocket on the same port per market (one port per market, like api/stream
hosts folded together). A single market loop wakes every `tick_wall_s`, advances both markets to the
exchange clock, fires due planned faults and collects finished scenario labels.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import IO

import msgspec
from aiohttp import web

from cryptoradar.events import Market
from cryptoradar.sim.endpoints import MarketApp
from cryptoradar.sim.faults import apply_fault
from cryptoradar.sim.model import BAR_MS, KlineRow, MarketModel
from cryptoradar.sim.options import SUPPORTED_INTERVALS_MS, Fault, FaultKind, ScheduledFault, SimOptions
from cryptoradar.sim.rest import RestGate
from cryptoradar.sim.runtime import MarketRuntime
from cryptoradar.sim.scenarios import Label
from cryptoradar.sim.schedule import ScenarioSchedule
from cryptoradar.sim.stats import MarketStats, SimStats
from cryptoradar.sim.universe import futures_universe, spot_universe
from cryptoradar.sim.ws import WsHub, WsLimits

_DAY_MS = 86_400_000


class ExchangeClock:
    """now = start + jumps + wall time elapsed x acceleration (acceleration 0: moves only by `jump_to`).

    Also a `core.clock.Clock`: an app run against the simulator takes it as its clock, so freshness, bar
    closing and gap detection run at the exchange's pace (at 60x a 1m bar closes every wall second).
    """

    def __init__(self, start_ms: int, acceleration: float) -> None:
        self._start_ms = start_ms
        self._acceleration = acceleration
        self._wall0 = time.monotonic()
        self._jumped_ms = 0

    def now_ms(self) -> int:
        return (
            self._start_ms
            + self._jumped_ms
            + int((time.monotonic() - self._wall0) * self._acceleration * 1000)
        )

    def now_ns(self) -> int:
        return self.now_ms() * 1_000_000

    @property
    def rate(self) -> float:
        # A paused clock (0) moves only by jumps: treat its latencies as wall time.
        return self._acceleration or 1.0

    def jump_to(self, ms: int) -> None:
        now = self.now_ms()
        if ms < now:
            raise ValueError(f"the exchange clock cannot go back from {now} to {ms}")
        self._jumped_ms += ms - now


def default_start_ms(seed: int) -> int:
    """A seeded midnight UTC in 2026: reproducible runs, realistic timestamps."""
    return int((datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=seed % 300)).timestamp() * 1000)


class Simulator:
    """A deterministic, seeded fake Binance (spot + USD-M). Use as `async with Simulator(opts) as sim:`."""

    def __init__(self, opts: SimOptions | None = None) -> None:
        self.opts = opts = opts or SimOptions()
        start = opts.start_time_ms if opts.start_time_ms is not None else default_start_ms(opts.seed)
        self.start_ms = start // BAR_MS * BAR_MS
        align_ms = max(SUPPORTED_INTERVALS_MS[i] for i in opts.intervals)
        first_open = (self.start_ms - opts.history_bars * BAR_MS) // align_ms * align_ms
        # The clock starts at `start` itself (`sim --start now` lines up with the wall clock); bars stay on the
        # minute grid, the one in progress opened at `start_ms`.
        self.clock = ExchangeClock(start, opts.acceleration)
        self.stats = SimStats()
        self.labels: list[Label] = []
        self._rng = random.Random(opts.seed)
        spot_specs = spot_universe(opts.seed, opts.symbols, opts.spot_listings)
        futures_specs = futures_universe(
            opts.seed, opts.futures_symbols, self.start_ms, opts.futures_listings
        )
        self.symbols = [s.name for s in spot_specs if s.listed]
        """Spot symbols in exchangeInfo (any status), kept current by `list_symbol` / `delist_symbol`."""
        self.futures_symbols = [s.name for s in futures_specs if s.listed]
        spot_model = MarketModel(spot_specs, opts.seed, 1, first_open)
        futures_model = MarketModel(futures_specs, opts.seed, 2, first_open)
        self._schedule = ScenarioSchedule(opts.seed, opts.scenario_every_bars, opts.scenarios, self.start_ms,
                                          spot_model, futures_model)  # fmt: skip
        accel = opts.acceleration if opts.acceleration > 0 else 1.0
        max_age = opts.max_connection_age_wall_s or _DAY_MS / 1000 / accel
        connects = (opts.connect_attempts_limit, opts.connect_window_wall_s)
        self._spot = self._market(Market.SPOT, spot_model, self.stats.spot, WsLimits(
            opts.spot_stream_cap, opts.spot_stream_cap, opts.spot_control_rate_per_s, True,
            opts.ping_interval_wall_s or 20.0, opts.pong_timeout_wall_s or 60.0, max_age, *connects), opts.spot_weight_limit_1m)  # fmt: skip
        self._futures = self._market(Market.USDM, futures_model, self.stats.futures, WsLimits(
            opts.futures_stream_cap, opts.futures_design_cap, opts.futures_control_rate_per_s, False,
            opts.ping_interval_wall_s or 180.0, opts.pong_timeout_wall_s or 600.0, max_age, *connects), opts.futures_weight_limit_1m)  # fmt: skip
        self._planned: list[ScheduledFault] = sorted(
            opts.fault_plan.faults if opts.fault_plan else (), key=lambda f: f.at_exchange_ms
        )
        self._runners: list[web.AppRunner] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._truth: IO[str] | None = None
        self.spot_rest_url = self.spot_ws_url = self.futures_rest_url = self.futures_ws_url = ""
        self._advance(start)

    def _market(
        self, market: Market, model: MarketModel, stats: MarketStats, limits: WsLimits, weight_limit: int
    ) -> MarketApp:
        opts = self.opts
        listed = {s.name: j for j, s in enumerate(model.specs) if s.listed}
        hub = WsHub(market, listed, limits, stats, self.now_ms)
        hook = self._schedule.spot_bar if market is Market.SPOT else self._schedule.futures_bar
        runtime = MarketRuntime(
            market, model, hub, hook, opts.seed + (1 if market is Market.SPOT else 2), listed
        )
        gate = RestGate(market, stats, weight_limit, opts.requests_after_429_before_ban, opts.ban_exchange_s,
                        opts.acceleration, self.now_ms)  # fmt: skip
        return MarketApp(runtime, gate, self.now_ms, opts.intervals, weight_limit, self._step)

    # -- public API ---------------------------------------------------------------------------------------

    def now_ms(self) -> int:
        """The exchange clock; every timestamp the simulator sends is on it."""
        return self.clock.now_ms()

    def closed_bars(self, symbol: str, interval: str, market: Market = Market.SPOT) -> list[KlineRow]:
        """Ground truth: every bar of `symbol` closed so far (history included), oldest first, as wire strings."""
        rt = (self._spot if market is Market.SPOT else self._futures).rt
        j = rt.model.index[symbol]
        interval_ms = SUPPORTED_INTERVALS_MS[interval]
        last_open = rt.model.current_open_ms - interval_ms
        return [row for row in rt.bars(j, interval, rt.model.first_open_ms, last_open, with_current=False)
                if row[0] + interval_ms <= rt.model.current_open_ms]  # fmt: skip

    def list_symbol(self, market: Market = Market.SPOT) -> str:
        """Lists the next held-back symbol of `market` now (TRADING, with liquidity); returns its name.

        It shows in exchangeInfo, REST and streams at once and trades from the next bar, its first full bar:
        klines, tickers and trades flow from then on. Needs `SimOptions.spot_listings`/`futures_listings`.
        """
        self._step()
        rt = self._app(market).rt
        if not rt.held_back:
            raise ValueError(
                f"no held-back {market} symbol left to list; raise SimOptions' {market} listings"
            )
        name = rt.list_next()
        self._names(market).append(name)
        rt.hub.stats.count_fault(FaultKind.LIST_SYMBOL.value)
        return name

    def delist_symbol(self, symbol: str, market: Market = Market.SPOT, remove: bool = False) -> None:
        """Halts `symbol` now (spot BREAK, USD-M SETTLING): its streams go silent, no more trades.
        With `remove` it also leaves exchangeInfo and REST answers "Invalid symbol" for it."""
        self._step()
        rt = self._app(market).rt
        j = rt.listed.get(symbol)
        if j is None:
            raise ValueError(f"{symbol} is not listed on {market}")
        rt.delist_symbol(j, remove)
        if remove:
            self._names(market).remove(symbol)
        rt.hub.stats.count_fault(FaultKind.DELIST_SYMBOL.value)

    def inject(self, fault: Fault) -> None:
        """Applies `fault` now, to `fault.market` or to both markets."""
        if fault.kind in (FaultKind.LIST_SYMBOL, FaultKind.DELIST_SYMBOL):
            if fault.market is None or (fault.kind is FaultKind.DELIST_SYMBOL and fault.symbol is None):
                raise ValueError(f"{fault.kind} needs a market (and delisting a symbol)")
            if fault.kind is FaultKind.LIST_SYMBOL:
                self.list_symbol(fault.market)
            else:
                self.delist_symbol(fault.symbol or "", fault.market, fault.remove)
            return
        now = self.now_ms()
        for app in (self._spot, self._futures):
            if fault.market is None or fault.market is app.rt.market:
                apply_fault(fault, app.rt.hub, app.gate, self._rng, now)

    def _app(self, market: Market) -> MarketApp:
        return self._spot if market is Market.SPOT else self._futures

    def _names(self, market: Market) -> list[str]:
        return self.symbols if market is Market.SPOT else self.futures_symbols

    async def advance_to(self, ms: int) -> None:
        """Jumps the exchange clock to `ms` and publishes everything due up to it before returning."""
        self.clock.jump_to(ms)
        self._step()
        await asyncio.sleep(0)

    # -- lifecycle ----------------------------------------------------------------------------------------

    async def __aenter__(self) -> Simulator:
        if self.opts.ground_truth_path is not None:
            self._truth = self.opts.ground_truth_path.open("w", encoding="utf-8")
        for app, port in ((self._spot, self.opts.spot_port), (self._futures, self.opts.futures_port)):
            runner = web.AppRunner(app.app, handle_signals=False, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, self.opts.host, port)
            await site.start()
            self._runners.append(runner)
        spot_port, futures_port = (_bound_port(r) for r in self._runners)
        host = self.opts.host
        self.spot_rest_url, self.spot_ws_url = f"http://{host}:{spot_port}", f"ws://{host}:{spot_port}"
        self.futures_rest_url, self.futures_ws_url = (
            f"http://{host}:{futures_port}",
            f"ws://{host}:{futures_port}",
        )
        self._tasks = [
            asyncio.create_task(self._loop(), name="sim-market-loop"),
            asyncio.create_task(self._spot.rt.hub.keepalive(), name="sim-spot-keepalive"),
            asyncio.create_task(self._futures.rt.hub.keepalive(), name="sim-futures-keepalive"),
        ]
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, timeout=5.0)
        for app in (self._spot, self._futures):
            await app.rt.hub.close_all()
        for runner in self._runners:
            await runner.cleanup()
        if self._truth is not None:
            self._truth.close()

    async def _loop(self) -> None:
        while True:
            self._step()
            await asyncio.sleep(self.opts.tick_wall_s)

    def _step(self) -> None:
        self._advance(self.now_ms())

    def _advance(self, now_ms: int) -> None:
        while self._planned and self._planned[0].at_exchange_ms <= now_ms:
            self.inject(self._planned.pop(0).fault)
        self._spot.rt.advance(now_ms)
        self._futures.rt.advance(now_ms)
        for label in self._schedule.completed(now_ms):
            self.labels.append(label)
            if self._truth is not None:
                self._truth.write(label_json(label) + "\n")
                self._truth.flush()


def label_json(label: Label) -> str:
    return msgspec.json.encode(label).decode()


def _bound_port(runner: web.AppRunner) -> int:
    address = runner.addresses[0]
    return int(address[1])


async def run_simulator(
    opts: SimOptions, stop: asyncio.Event, announce: Callable[[str], None] = print
) -> None:
    """Runs a simulator until `stop` is set; `announce` gets one line per URL (for `cryptoradar sim`)."""
    async with Simulator(opts) as sim:
        announce(f"spot REST     {sim.spot_rest_url}/api/v3")
        announce(f"spot WS       {sim.spot_ws_url}/ws/<stream>  {sim.spot_ws_url}/stream?streams=a/b")
        announce(f"USD-M REST    {sim.futures_rest_url}/fapi/v1")
        announce(f"USD-M WS      {sim.futures_ws_url}/public/...  {sim.futures_ws_url}/market/...")
        announce(f"exchange time {sim.now_ms()} ms, acceleration {opts.acceleration}x, seed {opts.seed}")
        await stop.wait()
