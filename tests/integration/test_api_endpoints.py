"""Every endpoint of the real `ApiServer` on a free loopback port, backed by in-memory port implementations."""

from __future__ import annotations

import json

import aiohttp
import pytest
from api_harness import NOW_MS, Harness, make_signal, running_api

from conftest import eventually
from cryptoradar.api.live import LiveKind
from cryptoradar.api.views import AlertView, ChannelView, ConnectionView, SymbolFreshness
from cryptoradar.core.metrics import SIGNALS
from cryptoradar.events import ConnectionState


async def get_json(session: aiohttp.ClientSession, url: str, status: int = 200) -> object:
    async with session.get(url) as response:
        assert response.status == status, await response.text()
        assert response.content_type == "application/json"
        return await response.json()


async def test_health_and_readiness_when_everything_is_up() -> None:
    async with running_api() as h, aiohttp.ClientSession(h.base_url) as session:
        assert await get_json(session, "/healthz") == {"status": "ok"}
        ready = await get_json(session, "/readyz")
        assert isinstance(ready, dict)
        assert ready["ready"] is True
        assert {c["name"] for c in ready["checks"]} == {"connections", "freshness", "store", "channels"}
        assert all(c["ok"] for c in ready["checks"])
        assert h.store.probes == 1


@pytest.mark.parametrize(
    ("breakage", "failing_check", "explained_by"),
    [
        ("connection", "connections", "binance/usdm-0 is RECONNECTING"),
        ("stale", "freshness", "spot:ETHUSDT@1m 180000 ms old"),
        ("store", "store", "PermissionError"),
        ("channel", "channels", "telegram (403 Forbidden: bot was blocked)"),
    ],
)
async def test_readiness_503_explains_the_failing_check(
    breakage: str, failing_check: str, explained_by: str
) -> None:
    async with running_api() as h, aiohttp.ClientSession(h.base_url) as session:
        break_one(h, breakage)
        body = await get_json(session, "/readyz", status=503)
        assert isinstance(body, dict)
        assert body["ready"] is False
        failed = [c for c in body["checks"] if not c["ok"]]
        assert [c["name"] for c in failed] == [failing_check]
        assert explained_by in failed[0]["detail"]


def break_one(h: Harness, breakage: str) -> None:
    if breakage == "connection":
        h.market.connection_views[1] = ConnectionView("binance", "usdm-0", ConnectionState.RECONNECTING)
    elif breakage == "stale":
        h.market.freshness[1] = SymbolFreshness("spot", "ETHUSDT", "1m", 180_000)
    elif breakage == "store":
        h.store.writable = False
    else:
        h.alerts.channel_views[1] = ChannelView(
            "telegram", "failed", last_error="403 Forbidden: bot was blocked"
        )


async def test_metrics_exposes_the_registry_and_process_metrics() -> None:
    SIGNALS.labels("momentum", "breakout").inc()
    async with running_api() as h, aiohttp.ClientSession(h.base_url) as session:
        await eventually(lambda: h.server.loop_lag.samples > 0, what="a loop-lag sample")
        async with session.get("/metrics") as response:
            assert response.status == 200
            assert response.content_type == "text/plain"
            text = await response.text()
    assert 'cryptoradar_signals_total{detector="momentum",kind="breakout"}' in text
    assert "cryptoradar_event_loop_lag_seconds_bucket" in text
    assert "cryptoradar_process_resident_memory_bytes" in text


async def test_alerts_pagination_walks_every_alert_once_newest_first() -> None:
    async with running_api() as h, aiohttp.ClientSession(h.base_url) as session:
        seen: list[int] = []
        cursor = ""
        pages = 0
        while True:
            page = await get_json(session, f"/api/alerts?limit=7&cursor={cursor}")
            assert isinstance(page, dict)
            seen += [item["id"] for item in page["items"]]
            pages += 1
            if page["next_cursor"] is None:
                break
            cursor = page["next_cursor"]
        assert pages == 5
        assert seen == list(range(30, 0, -1))
        first = (await get_json(session, "/api/alerts?limit=1"))["items"][0]  # type: ignore[index]
        assert first["signal"]["symbol"] == "ETHUSDT"
        assert first["signal"]["metrics"] == {"entry": 100.5, "strength": 0.8}
        assert first["created_at_ms"] == NOW_MS - 60_000


async def test_alert_filters_combine() -> None:
    async with running_api() as h, aiohttp.ClientSession(h.base_url) as session:
        since, until = NOW_MS - 20 * 60_000, NOW_MS - 10 * 60_000
        page = await get_json(
            session, f"/api/alerts?symbol=BTCUSDT&detector=momentum&since_ms={since}&until_ms={until}"
        )
        assert isinstance(page, dict)
        expected = [
            a.id
            for a in reversed(h.alerts.alerts)
            if a.signal.symbol == "BTCUSDT"
            and a.signal.detector == "momentum"
            and since <= a.created_at_ms < until
        ]
        assert expected  # the filter must select something for the test to mean anything
        assert [item["id"] for item in page["items"]] == expected
        assert page["next_cursor"] is None


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=100000", "limit=ten", "since_ms=yesterday", "cursor=abc"]
)
async def test_alerts_bad_query_is_400_with_reason(query: str) -> None:
    async with running_api() as h, aiohttp.ClientSession(h.base_url) as session:
        body = await get_json(session, f"/api/alerts?{query}", status=400)
        assert isinstance(body, dict)
        assert body["error"]


async def test_symbols_connections_channels_bars_and_stats() -> None:
    async with running_api() as h, aiohttp.ClientSession(h.base_url) as session:
        h.market.freshness.append(SymbolFreshness("usdm", "SOLUSDT", "5m", None))
        symbols = await get_json(session, "/api/symbols")
        assert isinstance(symbols, list)
        assert symbols[0] == {
            "market": "usdm",
            "symbol": "SOLUSDT",
            "interval": "5m",
            "age_ms": None,
            "stale": True,
        }
        assert [s["stale"] for s in symbols[1:]] == [False, False]

        connections = await get_json(session, "/api/connections")
        assert isinstance(connections, list)
        assert [(c["connection_id"], c["state"]) for c in connections] == [
            ("spot-0", "CONNECTED"),
            ("usdm-0", "CONNECTED"),
        ]
        channels = await get_json(session, "/api/channels")
        assert isinstance(channels, list)
        assert [c["channel"] for c in channels] == ["console", "telegram"]

        bars = await get_json(session, "/api/bars?symbol=BTCUSDT&interval=1m&limit=10")
        assert isinstance(bars, list)
        assert len(bars) == 10
        assert [b["open_time_ms"] for b in bars] == sorted(b["open_time_ms"] for b in bars)
        assert bars[-1]["open_time_ms"] == NOW_MS - 60_000
        assert await get_json(session, "/api/bars?symbol=NOPE&interval=1m") == []
        await get_json(session, "/api/bars?symbol=BTCUSDT&interval=7x", status=400)
        await get_json(session, "/api/bars?interval=1m", status=400)

        SIGNALS.labels("confluence", "aligned").inc(3)
        stats = await get_json(session, "/api/stats")
        assert isinstance(stats, dict)
        aligned = [
            s for s in stats["signals"] if s["labels"] == {"detector": "confluence", "kind": "aligned"}
        ]
        assert len(aligned) == 1
        assert aligned[0]["value"] >= 3
        assert stats["rss_bytes"] > 0
        assert stats["uptime_s"] >= 0


async def test_silence_create_list_delete_round_trip() -> None:
    async with running_api() as h, aiohttp.ClientSession(h.base_url) as session:
        request = {"matchers": ['symbol="BTCUSDT"'], "until_ms": NOW_MS + 3_600_000, "reason": "maintenance"}
        async with session.post("/api/silences", json=request) as response:
            assert response.status == 201
            silence_id = (await response.json())["id"]
        assert h.alerts.silences[silence_id].matchers == ['symbol="BTCUSDT"']
        assert h.alerts.silences[silence_id].created_by == "dashboard"

        listed = await get_json(session, "/api/silences")
        assert listed == [
            {
                "id": silence_id,
                "matchers": ['symbol="BTCUSDT"'],
                "until_ms": NOW_MS + 3_600_000,
                "created_by": "dashboard",
                "reason": "maintenance",
                "created_at_ms": NOW_MS,
            }
        ]
        async with session.delete(f"/api/silences/{silence_id}") as response:
            assert response.status == 204
        assert h.alerts.silences == {}
        async with session.delete(f"/api/silences/{silence_id}") as response:
            assert response.status == 404


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ({"matchers": ["symbol BTC"], "until_ms": NOW_MS + 60_000}, "application/json", 400),
        ({"matchers": [], "until_ms": NOW_MS + 60_000}, "application/json", 400),
        ({"matchers": ['symbol="X"'], "until_ms": NOW_MS - 1}, "application/json", 400),
        ({"matchers": ['symbol="X"'], "until_ms": "soon"}, "application/json", 400),
        ({"matchers": ['symbol="X"'], "until_ms": NOW_MS + 60_000, "extra": 1}, "application/json", 400),
        ({"matchers": ['symbol="X"'], "until_ms": NOW_MS + 60_000}, "text/plain", 415),
    ],
)
async def test_bad_silences_are_refused_and_nothing_is_stored(
    body: dict[str, object], content_type: str, status: int
) -> None:
    async with running_api() as h, aiohttp.ClientSession(h.base_url) as session:
        data = json.dumps(body).encode()
        async with session.post(
            "/api/silences", data=data, headers={"Content-Type": content_type}
        ) as response:
            assert response.status == status
            assert (await response.json())["error"]
        assert h.alerts.silences == {}


async def test_cross_origin_writes_and_foreign_host_headers_are_refused() -> None:
    async with running_api() as h, aiohttp.ClientSession(h.base_url) as session:
        request = {"matchers": ['symbol="BTCUSDT"'], "until_ms": NOW_MS + 60_000}
        async with session.post(
            "/api/silences", json=request, headers={"Origin": "https://evil.example"}
        ) as r:
            assert r.status == 403
        async with session.get("/api/alerts", headers={"Host": "rebound.evil.example"}) as r:
            assert r.status == 421
        assert h.alerts.silences == {}


async def test_sse_delivers_a_published_alert() -> None:
    # A short heartbeat: the server notices a vanished client on its next write.
    async with running_api(heartbeat_s=0.2) as h, aiohttp.ClientSession(h.base_url) as session:
        async with session.get("/api/events") as response:
            assert response.status == 200
            assert response.content_type == "text/event-stream"
            assert await response.content.readline() == b": connected\n"
            await eventually(lambda: h.hub.subscriber_count == 1, what="the stream to subscribe")
            alert = AlertView(99, NOW_MS, make_signal("SOLUSDT", "radar"))
            h.hub.publish(LiveKind.ALERT, alert)
            frame = await read_frame(response)
        assert frame["event"] == "alert"
        payload = json.loads(frame["data"])
        assert payload["id"] == 99
        assert payload["signal"]["symbol"] == "SOLUSDT"
        await eventually(lambda: h.hub.subscriber_count == 0, what="the stream to unsubscribe on disconnect")


async def test_sse_heartbeat_keeps_an_idle_stream_alive() -> None:
    async with (
        running_api(heartbeat_s=0.05) as h,
        aiohttp.ClientSession(h.base_url) as session,
        session.get("/api/events") as response,
    ):
        assert await response.content.readline() == b": connected\n"
        assert await response.content.readline() == b"\n"
        assert await response.content.readline() == b": keep-alive\n"


async def test_stop_ends_open_event_streams() -> None:
    async with running_api() as h, aiohttp.ClientSession(h.base_url) as session:
        async with session.get("/api/events") as response:
            await response.content.readline()
            await h.server.stop()
            rest = await response.content.read()
        assert b"event:" not in rest
        assert h.hub.subscriber_count == 0


async def read_frame(response: aiohttp.ClientResponse) -> dict[str, str]:
    fields: dict[str, str] = {}
    while True:
        line = (await response.content.readline()).decode().rstrip("\n")
        if line == "" and fields:
            return fields
        if line.startswith(":") or not line:
            continue
        name, _, value = line.partition(": ")
        fields[name] = value


async def test_unknown_route_is_json_404() -> None:
    async with running_api() as h, aiohttp.ClientSession(h.base_url) as session:
        body = await get_json(session, "/api/nothing", status=404)
        assert body == {"error": "Not Found"}
