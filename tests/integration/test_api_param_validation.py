"""Every integer the API reads from a request is checked: out of range or not ASCII digits is a 400 with a
message naming the parameter, never a 500 from `int()` or from the store's 64-bit columns."""

from __future__ import annotations

import aiohttp
import pytest
from api_harness import running_api

MAX_MS = (2**63 - 1) // 1_000_000


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("since_ms=99999999999999999999999", "since_ms"),
        (f"since_ms={MAX_MS + 1}", "since_ms"),
        ("until_ms=9223372036854775807", "until_ms"),
        ("since_ms=-5", "since_ms"),
        ("since_ms=%C2%B2", "since_ms"),  # "²": str.isdigit() says yes, int() says no
        ("until_ms=%D9%A3", "until_ms"),  # Arabic-Indic three: int() would accept it
        ("since_ms=1_000", "since_ms"),
        ("cursor=%C2%B2", "cursor"),
        ("cursor=9223372036854775808", "cursor"),
        ("cursor=%2B12", "cursor"),
        ("limit=%C2%B2", "limit"),
        ("limit=" + "9" * 5000, "limit"),
    ],
)
async def test_bad_integer_query_parameters_are_400_naming_the_parameter(query: str, names: str) -> None:
    async with running_api() as h, aiohttp.ClientSession(h.base_url) as session:
        async with session.get(f"/api/alerts?{query}") as response:
            assert response.status == 400, await response.text()
            error = (await response.json())["error"]
        assert names in error
        assert "\n" not in error


async def test_largest_valid_time_and_cursor_are_accepted() -> None:
    url = f"/api/alerts?since_ms=0&until_ms={MAX_MS}&cursor={2**63 - 1}"
    async with running_api() as h, aiohttp.ClientSession(h.base_url) as session, session.get(url) as response:
        assert response.status == 200, await response.text()


@pytest.mark.parametrize("silence_id", ["%C2%B2", "99999999999999999999", "-1", "1e3"])
async def test_bad_silence_ids_are_400(silence_id: str) -> None:
    url = f"/api/silences/{silence_id}"
    async with (
        running_api() as h,
        aiohttp.ClientSession(h.base_url) as session,
        session.delete(url) as response,
    ):
        assert response.status == 400, await response.text()
        assert "silence id" in (await response.json())["error"]


@pytest.mark.parametrize("until_ms", [9223372036854775807, MAX_MS + 1, 2**70, -1])
async def test_silence_until_past_the_64_bit_range_is_400_and_nothing_is_stored(until_ms: int) -> None:
    async with running_api() as h, aiohttp.ClientSession(h.base_url) as session:
        body = {"matchers": ['symbol="BTCUSDT"'], "until_ms": until_ms}
        async with session.post("/api/silences", json=body) as response:
            assert response.status == 400, await response.text()
            assert "until_ms" in (await response.json())["error"]
        assert h.alerts.silences == {}
        # The largest valid time is fine.
        body["until_ms"] = MAX_MS
        async with session.post("/api/silences", json=body) as response:
            assert response.status == 201
