"""Replay: shared session files and our own recordings go through the real parser and give the same events."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import shared_data
from cryptoradar.core.clock import ManualClock
from cryptoradar.events import Event, Market
from cryptoradar.sources.binance.parse import FrameParser
from cryptoradar.sources.recorder import Recorder
from cryptoradar.sources.replay import infer_market, iter_recording, replay, replay_frames

SESSIONS = ["spot-session-1.txt", "usdm-session-1.txt"]


async def collect(path: Path, market: Market | None = None, pace: float | None = None) -> list[Event]:
    return [event async for event in replay(path, market, pace)]


def parsed_directly(path: Path, market: Market) -> list[Event]:
    """Events from parsing the file's frame lines with a fresh parser, no replay code involved."""
    parser = FrameParser(market)
    events: list[Event] = []
    with path.open(encoding="utf-8") as f:
        next(f)
        for line in f:
            if not line.strip():
                continue
            ts_text, raw = line.rstrip("\n").split(": ", 1)
            whole, frac = ts_text.split(".")
            events.extend(parser.parse(raw, int(whole) * 10**9 + int(frac.ljust(9, "0")[:9])).events)
    return events


@pytest.mark.parametrize("name", SESSIONS)
async def test_replay_twice_is_identical_and_matches_direct_parse(name: str) -> None:
    path = shared_data() / "ws" / name
    market = Market.USDM if name.startswith("usdm") else Market.SPOT
    first = await collect(path)
    second = await collect(path)
    assert first == second
    assert first == parsed_directly(path, market)
    assert {e.market for e in first} == {market}  # inferred from the URL line


@pytest.mark.parametrize("name", SESSIONS)
async def test_recording_of_shared_frames_replays_to_same_events(name: str, tmp_path: Path) -> None:
    source = shared_data() / "ws" / name
    frames = list(iter_recording(source))
    target = tmp_path / "session.jsonl.zst"
    with Recorder(target, url=frames[0].conn, clock=ManualClock(42), flush_bytes=64 * 1024) as recorder:
        for frame in frames:
            recorder.record(frame.raw.encode(), frame.ts_recv_ns, frame.market, "conn-1")
    assert recorder.frames_written == len(frames)

    again = list(iter_recording(target))
    assert [(f.ts_recv_ns, f.market, f.raw) for f in again] == [
        (f.ts_recv_ns, f.market, f.raw) for f in frames
    ]
    assert {f.conn for f in again} == {"conn-1"}
    assert await collect(target) == await collect(source)


def test_recording_is_readable_after_each_flush(tmp_path: Path) -> None:
    target = tmp_path / "live.zst"
    recorder = Recorder(target, url="wss://fstream.binance.com/market/stream", clock=ManualClock(1))
    recorder.record('{"result":null,"id":1}', 10)
    recorder.flush()
    recorder.record(b'{"e":"serverShutdown","E":1}', 20)
    recorder.flush()
    frames = list(iter_recording(target))
    assert [(f.ts_recv_ns, f.market) for f in frames] == [(10, Market.USDM), (20, Market.USDM)]
    recorder.close()
    recorder.close()  # idempotent
    with pytest.raises(ValueError, match="closed"):
        recorder.record("{}", 30)


def test_replay_frames_reports_control_and_errors(tmp_path: Path) -> None:
    target = tmp_path / "mixed.zst"
    with Recorder(target, market=Market.SPOT) as recorder:
        recorder.record('{"result":null,"id":1}', 1)
        recorder.record("not json", 2)
        recorder.record('{"e":"serverShutdown","E":3}', 3)
    results = list(replay_frames(target))
    assert [r.stream_type for r in results] == ["control", "unknown", "serverShutdown"]
    assert [r.error_kind for r in results] == [None, "malformed_json", None]


def test_shared_text_format_skips_rest_and_configuration_lines(tmp_path: Path) -> None:
    path = tmp_path / "session.txt"
    path.write_text(
        "wss://stream.binance.com:9443/stream?streams=btcusdt@aggTrade <-> 1618677371.364407\n"
        'https://api.binance.com/api/v3/depth?symbol=BTCUSDT: {"lastUpdateId":1}\n'
        "configuration: {}\n"
        '1618677372.5: {"result":null,"id":1}\n'
        "\n"
        '1618677372.123456789: {"u":1,"s":"BTCUSDT","b":"1","B":"1","a":"2","A":"1"}\n'
    )
    frames = list(iter_recording(path))
    assert [f.ts_recv_ns for f in frames] == [1618677372500000000, 1618677372123456789]
    assert {f.market for f in frames} == {Market.SPOT}


async def test_paced_replay_yields_the_same_events() -> None:
    path = shared_data() / "ws" / "spot-session-1.txt"
    assert await collect(path, pace=200.0) == await collect(path)
    with pytest.raises(ValueError, match="pace"):
        await collect(path, pace=0)


def test_infer_market() -> None:
    assert infer_market("wss://fstream.binance.com/market/stream?streams=x") == Market.USDM
    assert infer_market("wss://stream.binance.com:9443/ws") == Market.SPOT
