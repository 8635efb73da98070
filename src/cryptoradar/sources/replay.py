"""Replay recorded frames through the same `FrameParser` the live connections use.

Two recording formats are read:

- ours (`recorder.py`): zstandard-compressed JSON lines with a header line;
- the shared text format of `../shared/data/ws/*.txt`: a first line `<url> <-> <unix_s>`, then
  `<receive time as unix seconds>: <raw frame>` lines; lines starting with `https` (REST responses) or
  `configuration:` and blank lines are skipped.

The market of a frame is, in order: the `market` argument, the one recorded with the frame, the one
inferred from the URL (`fstream` means USD-M, anything else spot).
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import msgspec
import zstandard

from cryptoradar.events import Event, Market
from cryptoradar.sources.binance.parse import FrameParser, ParsedFrame
from cryptoradar.sources.recorder import RECORDING_FORMAT, RecordedFrame, RecordingHeader

__all__ = ["infer_market", "iter_recording", "replay", "replay_frames"]

_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_HEADER = msgspec.json.Decoder(RecordingHeader)
_FRAME = msgspec.json.Decoder(RecordedFrame)
_YIELD_EVERY_FRAMES = 1000
"""At full speed, hand the loop back this often so a replay never starves other tasks."""


def infer_market(url: str) -> Market:
    """USD-M for fstream/fapi URLs, spot otherwise."""
    return Market.USDM if ("fstream" in url or "fapi" in url) else Market.SPOT


def iter_recording(path: str | Path) -> Iterator[RecordedFrame]:
    """Frames of a recording in file order, in either format (detected from the first bytes)."""
    path = Path(path)
    with path.open("rb") as f:
        magic = f.read(4)
    if magic == _ZSTD_MAGIC:
        yield from _iter_ours(path)
    else:
        yield from _iter_shared_text(path)


def _iter_ours(path: Path) -> Iterator[RecordedFrame]:
    with (
        path.open("rb") as raw,
        zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True) as reader,
    ):
        lines = io.BufferedReader(reader)
        header = _HEADER.decode(lines.readline())
        if header.format != RECORDING_FORMAT:
            raise ValueError(f"{path}: not a cryptoradar recording (format {header.format!r})")
        default_market = header.market or infer_market(header.url)
        for line in lines:
            if not line.strip():
                continue
            frame = _FRAME.decode(line)
            if frame.market is None:
                frame = RecordedFrame(frame.ts_recv_ns, default_market, frame.conn or header.url, frame.raw)
            yield frame


def _iter_shared_text(path: Path) -> Iterator[RecordedFrame]:
    with path.open(encoding="utf-8") as f:
        first = f.readline()
        url, sep, _ = first.partition(" <-> ")
        if not sep:
            raise ValueError(f"{path}: first line is not '<url> <-> <unix_s>'")
        market = infer_market(url)
        for line in f:
            if not line.strip() or line.startswith(("https", "configuration:")):
                continue
            ts_text, sep, raw = line.partition(": ")
            if not sep:
                continue
            yield RecordedFrame(_seconds_text_to_ns(ts_text), market, url, raw.rstrip("\n"))


def _seconds_text_to_ns(text: str) -> int:
    """Exact decimal seconds -> ns (a float would round the sub-microsecond digits)."""
    whole, _, frac = text.strip().partition(".")
    return int(whole) * 1_000_000_000 + int((frac + "000000000")[:9])


def replay_frames(path: str | Path, market: Market | None = None) -> Iterator[ParsedFrame]:
    """Every frame of a recording parsed, in order, with one `FrameParser` per market."""
    parsers: dict[Market, FrameParser] = {}
    for frame in iter_recording(path):
        m = market or frame.market or infer_market(frame.conn)
        parser = parsers.get(m)
        if parser is None:
            parser = parsers[m] = FrameParser(m)
        yield parser.parse(frame.raw, frame.ts_recv_ns)


async def replay(
    path: str | Path, market: Market | None = None, pace: float | None = None
) -> AsyncIterator[Event]:
    """Events of a recording. `pace` None runs at full speed; 1.0 keeps the recorded gaps, 2.0 halves them.

    Events keep their recorded `ts_recv_ns`, so detectors see the original timing whatever the pace.
    """
    if pace is not None and pace <= 0:
        raise ValueError(f"pace must be positive or None, got {pace}")
    loop = asyncio.get_running_loop()
    start_wall_s = loop.time()
    first_ts_ns: int | None = None
    parsers: dict[Market, FrameParser] = {}
    for n, frame in enumerate(iter_recording(path)):
        if pace is not None:
            if first_ts_ns is None:
                first_ts_ns = frame.ts_recv_ns
            due_s = start_wall_s + (frame.ts_recv_ns - first_ts_ns) / 1e9 / pace
            delay_s = due_s - loop.time()
            if delay_s > 0:
                await asyncio.sleep(delay_s)
        elif n % _YIELD_EVERY_FRAMES == 0:
            await asyncio.sleep(0)
        m = market or frame.market or infer_market(frame.conn)
        parser = parsers.get(m)
        if parser is None:
            parser = parsers[m] = FrameParser(m)
        for event in parser.parse(frame.raw, frame.ts_recv_ns).events:
            yield event
