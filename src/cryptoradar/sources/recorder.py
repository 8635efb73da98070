"""Record raw WebSocket frames with their receive time, for replay through the real parser.

File format (zstandard-compressed JSON lines):

- line 1, the header: `{"format":"cryptoradar-recording","version":1,"url":..,"market":..,"start_ns":..}`
- then one frame per line: `{"ts_recv_ns":..,"market":"spot","conn":"...","raw":"<frame text>"}`

`Recorder.record()` only encodes into an in-memory buffer; compression and the file write happen when the
buffer passes `flush_bytes` or on `flush()`/`close()`, so the receive loop never waits on the disk for
longer than one buffer write. A file that was not closed loses at most the unflushed buffer: every flush
ends a zstd frame, so the file stays readable.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import IO, Self

import msgspec
import zstandard

from cryptoradar.core.clock import Clock, SystemClock
from cryptoradar.events import Market

__all__ = ["RECORDING_FORMAT", "RecordedFrame", "Recorder", "RecordingHeader"]

RECORDING_FORMAT = "cryptoradar-recording"


class RecordingHeader(msgspec.Struct, frozen=True, gc=False):
    """First line of a recording."""

    format: str
    version: int
    url: str
    market: Market | None
    start_ns: int


class RecordedFrame(msgspec.Struct, frozen=True, gc=False):
    """One frame as received: `raw` is the frame text exactly; `market` None when the source did not say."""

    ts_recv_ns: int
    market: Market | None
    conn: str
    raw: str


_ENCODER = msgspec.json.Encoder()


class Recorder:
    """Appends frames to a compressed JSONL recording. Not thread-safe; use from one event loop."""

    def __init__(
        self,
        path: str | Path,
        *,
        url: str = "",
        market: Market | None = None,
        clock: Clock | None = None,
        flush_bytes: int = 256 * 1024,
        level: int = 3,
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[bytes] = self.path.open("wb")
        self._compressor = zstandard.ZstdCompressor(level=level)
        self._flush_bytes = flush_bytes
        self._buffer = bytearray()
        self.frames_written = 0
        start_ns = (clock or SystemClock()).now_ns()
        self._append(_ENCODER.encode(RecordingHeader(RECORDING_FORMAT, 1, url, market, start_ns)))

    def record(self, raw: bytes | str, ts_recv_ns: int, market: Market | None = None, conn: str = "") -> None:
        """Buffer one frame; writes to disk only when the buffer is full."""
        text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
        self._append(_ENCODER.encode(RecordedFrame(ts_recv_ns, market, conn, text)))
        self.frames_written += 1

    def _append(self, line: bytes) -> None:
        if self._file.closed:
            raise ValueError(f"recorder for {self.path} is closed")
        self._buffer += line
        self._buffer += b"\n"
        if len(self._buffer) >= self._flush_bytes:
            self.flush()

    def flush(self) -> None:
        """Compress the buffer as one zstd frame and write it."""
        if self._buffer:
            self._file.write(self._compressor.compress(bytes(self._buffer)))
            self._buffer.clear()
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self.flush()
            self._file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
