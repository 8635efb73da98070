"""`ApiServer`: one aiohttp server for health, metrics, the JSON API, live events and the dashboard.

Routes (all JSON unless noted):
  GET  /healthz                 process alive and its pipeline advancing, else 503 (never needs the token)
  GET  /readyz                  readiness checks; 503 with the failing checks explained
  GET  /metrics                 Prometheus text format
  GET  /api/alerts              ?symbol=&detector=&since_ms=&until_ms=&limit=&cursor=  newest first
  GET  /api/alerts/failed       ?limit=  failed deliveries, newest first, with where each was rerouted
  GET  /api/symbols             freshness per series, stale first
  GET  /api/connections         upstream connections
  GET  /api/channels            notification channels
  GET  /api/silences            POST to create (JSON `SilenceRequest`), DELETE /api/silences/{id}
  GET  /api/bars                ?symbol=&interval=&limit=  recent closed bars, oldest first
  GET  /api/stats               signal and alert counters, loop lag, memory
  GET  /api/events              Server-Sent Events: `alert`, `signal`, `status` frames
  GET  /                        the dashboard (static, offline)

Lifecycle: `await start()` returns the bound port; `await stop()` ends live streams and closes sockets.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Final

import msgspec
import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, generate_latest

from cryptoradar.api.monitor import START_TIME_METRIC, EventLoopLagMonitor, rss_bytes
from cryptoradar.api.ports import AlertQuery, AlertsView, HealthSource, LiveFeed, LiveStream, MarketView
from cryptoradar.api.readiness import interval_ms, symbol_views
from cryptoradar.api.security import SecretScrubber, bearer_matches, check_bind, is_loopback
from cryptoradar.api.views import (
    AlertPage,
    CounterSample,
    ErrorBody,
    ReadinessView,
    SilenceCreated,
    SilenceRequest,
    StatsView,
)
from cryptoradar.config.api import ApiConfig
from cryptoradar.core.clock import Clock
from cryptoradar.core.metrics import ALERTS, REGISTRY, SIGNALS

log = structlog.get_logger(__name__)

STATIC_DIR: Final = Path(__file__).with_name("static")
_PUBLIC_PATHS = frozenset({"/healthz", "/", "/favicon.ico"})
_PUBLIC_PREFIX = "/static/"
_NS_PER_MS = 1_000_000
_MAX_BODY_BYTES = 64 * 1024
_SHUTDOWN_TIMEOUT_S = 2.0
_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'"
    ),
}

API_REQUESTS = Counter(
    "cryptoradar_api_requests_total",
    "HTTP API requests by route and status",
    ["route", "status"],
    registry=REGISTRY,
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    """Raised by handlers; the middleware renders it as `{"error": message}` with `status`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


_ENCODER = msgspec.json.Encoder()


def _json(payload: object, status: int = 200) -> web.Response:
    return web.Response(body=_ENCODER.encode(payload), status=status, content_type="application/json")


_MAX_MS: Final = (2**63 - 1) // _NS_PER_MS
"""The largest time in ms whose ns value still fits the stores' signed 64-bit integers (year 2262)."""
_MAX_ID: Final = 2**63 - 1


def _parse_int(raw: str, what: str, maximum: int) -> int:
    """`raw` as an integer in 0..maximum, or a 400 naming `what`. ASCII digits only: `str.isdigit` and
    `int` accept "²", "٣", "+1" and "1_0", and a value past int64 fails in the store as a 500."""
    if not (raw.isascii() and raw.isdigit()) or len(raw) > len(str(maximum)) or int(raw) > maximum:
        raise ApiError(400, f"{what} must be an integer from 0 to {maximum}")
    return int(raw)


def _int_param(request: web.Request, name: str, default: int | None = None) -> int | None:
    """A time (or count) from the query string, at most `_MAX_MS`."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    return _parse_int(raw, f"query parameter {name}", _MAX_MS)


def _limit(request: web.Request, default: int, maximum: int) -> int:
    limit = _int_param(request, "limit", default)
    assert limit is not None
    if not 1 <= limit <= maximum:
        raise ApiError(400, f"limit must be between 1 and {maximum}")
    return limit


class ApiServer:
    """See the module docstring. Raises ConfigError at construction when exposed without a token."""

    def __init__(
        self,
        config: ApiConfig,
        *,
        health: HealthSource,
        alerts: AlertsView,
        market: MarketView,
        live: LiveFeed,
        clock: Clock,
        secrets: Iterable[str] = (),
    ) -> None:
        check_bind(config.host, config.token)
        self._config = config
        self._health = health
        self._alerts = alerts
        self._market = market
        self._live = live
        self._clock = clock
        self.set_secrets(secrets)
        self._token_required = bool(config.token.get_secret_value())
        self._lag = EventLoopLagMonitor(config.loop_lag_interval_s)
        self._runner: web.AppRunner | None = None
        self._streams: dict[asyncio.Task[object], LiveStream] = {}
        self._started_ns = 0
        self.port = 0

    def set_secrets(self, secrets: Iterable[str]) -> None:
        """Replace the values scrubbed from responses (after a reload brought new channel secrets)."""
        self._scrubber = SecretScrubber([*secrets, self._config.token.get_secret_value()])

    # --- lifecycle -----------------------------------------------------------------------------------

    async def start(self) -> int:
        """Bind and serve; returns the bound port (useful with `port: 0`)."""
        if self._runner is not None:
            raise RuntimeError("ApiServer already started")
        runner = web.AppRunner(self._build_app(), access_log=None, shutdown_timeout=_SHUTDOWN_TIMEOUT_S)
        await runner.setup()
        site = web.TCPSite(runner, self._config.host, self._config.port)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        self._started_ns = self._clock.now_ns()
        self.port = int(runner.addresses[0][1])
        self._lag.start()
        log.info("api_started", host=self._config.host, port=self.port, token_required=self._token_required)
        return self.port

    async def stop(self) -> None:
        """Idempotent. Ends open event streams first so shutdown does not wait on them."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        # Ending the subscriptions lets each stream handler finish its response cleanly.
        for stream in list(self._streams.values()):
            stream.close()
        if self._streams:
            await asyncio.wait(list(self._streams), timeout=_SHUTDOWN_TIMEOUT_S)
        await runner.cleanup()
        await self._lag.stop()
        log.info("api_stopped")

    @property
    def loop_lag(self) -> EventLoopLagMonitor:
        """The lag monitor this server runs while started (its numbers feed the health summary)."""
        return self._lag

    # --- app -----------------------------------------------------------------------------------------

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware], client_max_size=_MAX_BODY_BYTES)
        routes: list[tuple[str, str, Handler]] = [
            ("GET", "/healthz", self._healthz),
            ("GET", "/readyz", self._readyz),
            ("GET", "/metrics", self._metrics),
            ("GET", "/api/alerts", self._list_alerts),
            ("GET", "/api/alerts/failed", self._failed_deliveries),
            ("GET", "/api/symbols", self._symbols),
            ("GET", "/api/connections", self._connections),
            ("GET", "/api/channels", self._channels),
            ("GET", "/api/silences", self._list_silences),
            ("POST", "/api/silences", self._create_silence),
            ("DELETE", "/api/silences/{silence_id}", self._delete_silence),
            ("GET", "/api/bars", self._bars),
            ("GET", "/api/stats", self._stats),
            ("GET", "/api/events", self._events),
            ("GET", "/", self._index),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, path, handler)
        app.router.add_static(_PUBLIC_PREFIX, STATIC_DIR)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        try:
            self._authorize(request)
            response = await handler(request)
        except ApiError as e:
            response = _json(ErrorBody(e.message), e.status)
        except web.HTTPException as e:
            response = _json(ErrorBody(e.reason), e.status)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            # The type only: an adapter's exception text could carry a secret or a DSN.
            log.error("api_handler_failed", route=route, error_type=type(e).__name__)
            response = _json(ErrorBody("internal error"), 500)
        API_REQUESTS.labels(route, str(response.status)).inc()
        if isinstance(response, web.Response) and isinstance(response.body, bytes) and self._scrubber:
            response.body = self._scrubber.scrub(response.body)
        if not response.prepared:
            response.headers.update(_SECURITY_HEADERS)
        return response

    def _authorize(self, request: web.Request) -> None:
        if request.host and not self._host_allowed(request.host):
            raise ApiError(421, "unexpected Host header")
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            origin = request.headers.get("Origin")
            if origin is not None and origin.split("://", 1)[-1] != request.host:
                raise ApiError(403, "cross-origin request refused")
        public = request.path in _PUBLIC_PATHS or request.path.startswith(_PUBLIC_PREFIX)
        if (
            self._token_required
            and not public
            and not bearer_matches(request.headers.get("Authorization"), self._config.token)
        ):
            raise ApiError(401, "missing or wrong bearer token")

    def _host_allowed(self, host_header: str) -> bool:
        """On a loopback bind, only loopback Host names are served: a DNS-rebinding page cannot read the API."""
        if not is_loopback(self._config.host):
            return True
        hostname = host_header.rsplit(":", 1)[0] if not host_header.endswith("]") else host_header
        return is_loopback(hostname.strip("[]"))

    # --- health and metrics --------------------------------------------------------------------------

    async def _healthz(self, request: web.Request) -> web.Response:
        liveness = self._health.liveness()
        if liveness.alive:
            return _json({"status": "ok"})
        return _json({"status": "stalled", "detail": liveness.detail}, 503)

    async def _readyz(self, request: web.Request) -> web.Response:
        report = await self._health.readiness()
        return _json(ReadinessView(report.ready, report.checks), 200 if report.ready else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        response = web.Response(body=generate_latest(REGISTRY))
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    async def _stats(self, request: web.Request) -> web.Response:
        now_ns = self._clock.now_ns()
        started_s = REGISTRY.get_sample_value(START_TIME_METRIC)
        uptime_s = now_ns / 1e9 - started_s if started_s else (now_ns - self._started_ns) / 1e9
        stats = StatsView(
            signals=_counter_samples(SIGNALS),
            alerts=_counter_samples(ALERTS),
            loop_lag_s=self._lag.last_lag_s,
            rss_bytes=rss_bytes(),
            uptime_s=max(0.0, uptime_s),
        )
        return _json(stats)

    # --- alerts and silences -------------------------------------------------------------------------

    async def _list_alerts(self, request: web.Request) -> web.Response:
        limit = _limit(request, 50, self._config.page_size_max)
        cursor = request.query.get("cursor") or None
        before_id: int | None = None
        if cursor is not None:
            before_id = _parse_int(cursor, "cursor (next_cursor of the previous page)", _MAX_ID)
        query = AlertQuery(
            limit=limit + 1,
            symbol=request.query.get("symbol") or None,
            detector=request.query.get("detector") or None,
            since_ms=_int_param(request, "since_ms"),
            until_ms=_int_param(request, "until_ms"),
            before_id=before_id,
        )
        rows = list(await self._alerts.list_alerts(query))
        page = rows[:limit]
        next_cursor = str(page[-1].id) if len(rows) > limit else None
        return _json(AlertPage(page, next_cursor))

    async def _list_silences(self, request: web.Request) -> web.Response:
        return _json(list(await self._alerts.list_silences()))

    async def _create_silence(self, request: web.Request) -> web.Response:
        if request.content_type != "application/json":
            raise ApiError(415, "send the silence as application/json")
        try:
            body = msgspec.json.decode(await request.read(), type=SilenceRequest)
        except msgspec.DecodeError as e:
            raise ApiError(400, f"invalid silence: {e}") from None
        if not 0 <= body.until_ms <= _MAX_MS:
            raise ApiError(400, f"until_ms must be a time in ms from 0 to {_MAX_MS}")
        if body.until_ms * _NS_PER_MS <= self._clock.now_ns():
            raise ApiError(400, "until_ms must be in the future")
        if not body.matchers:
            raise ApiError(400, 'a silence needs at least one matcher, for example symbol="BTCUSDT"')
        try:
            silence_id = await self._alerts.add_silence(
                body.matchers,
                until_ns=body.until_ms * _NS_PER_MS,
                created_by=body.created_by,
                reason=body.reason,
            )
        except ValueError as e:
            raise ApiError(400, str(e)) from None
        log.info("silence_created", silence_id=silence_id, matchers=body.matchers, created_by=body.created_by)
        return _json(SilenceCreated(silence_id), 201)

    async def _delete_silence(self, request: web.Request) -> web.Response:
        silence_id = _parse_int(request.match_info["silence_id"], "silence id", _MAX_ID)
        if not await self._alerts.remove_silence(silence_id):
            raise ApiError(404, f"no silence {silence_id}")
        log.info("silence_removed", silence_id=silence_id)
        return web.Response(status=204)

    # --- market --------------------------------------------------------------------------------------

    async def _symbols(self, request: web.Request) -> web.Response:
        return _json(symbol_views(self._market.symbols(), self._config.stale_after_intervals))

    async def _connections(self, request: web.Request) -> web.Response:
        return _json(list(self._market.connections()))

    async def _channels(self, request: web.Request) -> web.Response:
        return _json(list(self._alerts.channels()))

    async def _failed_deliveries(self, request: web.Request) -> web.Response:
        limit = _limit(request, 50, self._config.page_size_max)
        return _json(list(await self._alerts.failed_deliveries(limit)))

    async def _bars(self, request: web.Request) -> web.Response:
        symbol = request.query.get("symbol", "")
        interval = request.query.get("interval", "1m")
        if not symbol:
            raise ApiError(400, "query parameter symbol is required")
        try:
            interval_ms(interval)
        except ValueError as e:
            raise ApiError(400, str(e)) from None
        limit = _limit(request, 120, self._config.bars_max)
        return _json(list(self._market.recent_bars(symbol, interval, limit)))

    # --- live events and dashboard -------------------------------------------------------------------

    async def _events(self, request: web.Request) -> web.StreamResponse:
        task = asyncio.current_task()
        assert task is not None
        subscription = self._live.subscribe()
        self._streams[task] = subscription
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        response.headers.update(_SECURITY_HEADERS)
        try:
            await response.prepare(request)
            await response.write(b": connected\n\n")
            while True:
                try:
                    frame = await asyncio.wait_for(anext(subscription), self._config.sse_heartbeat_s)
                except TimeoutError:
                    await response.write(b": keep-alive\n\n")
                    continue
                except StopAsyncIteration:
                    break
                await response.write(self._scrubber.scrub(frame))
        except ConnectionError:
            pass  # the client went away; nothing to clean up but the subscription
        finally:
            subscription.close()
            self._streams.pop(task, None)
        return response

    async def _index(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


def _counter_samples(counter: Counter) -> list[CounterSample]:
    return [
        CounterSample(dict(sample.labels), sample.value)
        for family in counter.collect()
        for sample in family.samples
        if sample.name.endswith("_total")
    ]
