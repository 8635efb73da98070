"""Group commit for the PostgreSQL outbox: alerts submitted together are written in ONE statement.

A bar close fires hundreds of signals at once; one statement per alert costs a round trip and a
commit each. Here a single writer task takes whatever queued while the previous batch ran and inserts
it with one statement over arrays (one implicit transaction). If that statement fails, each alert of
the batch is retried alone, so one bad alert cannot fail its neighbours (as SQLite's SAVEPOINTs do).

Per alert the outcome is exactly `AlertStore.insert_alert`'s: the alert, a pending delivery per channel
and the (detector, symbol, type) cooldown commit together, or, when the signature exists, nothing and
None. Within a batch the first request for a signature is the one written; the others get None.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import asyncpg
import msgspec

from cryptoradar.events import Signal
from cryptoradar.storage.rows import SIGNAL_ENCODER

_INSERT_BATCH = """
WITH input AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                         $7::bigint[], $8::bigint[], $9::bigint[], $10::bytea[], $11::bigint[],
                         $12::bigint[], $13::float8[], $14::text[])
    WITH ORDINALITY AS t(signature, detector, type, symbol, timeframe, severity, window_start_ms,
                         bar_close_time_ms, created_at_ns, payload, last_event_ns, until_ns,
                         entry_price, direction, ord)
), alert AS (
    INSERT INTO alerts (signature, detector, type, symbol, timeframe, severity, window_start_ms,
                        bar_close_time_ms, created_at_ns, payload)
    SELECT signature, detector, type, symbol, timeframe, severity, window_start_ms, bar_close_time_ms,
           created_at_ns, payload
    FROM input ORDER BY ord
    ON CONFLICT (signature) DO NOTHING
    RETURNING id, signature
), pending AS (
    INSERT INTO deliveries (alert_id, channel, state, attempts, next_attempt_at_ns)
    SELECT alert.id, d.channel, 'pending', 0, input.created_at_ns
    FROM unnest($15::text[], $16::text[]) WITH ORDINALITY AS d(signature, channel, ord)
    JOIN alert USING (signature) JOIN input USING (signature)
    ORDER BY alert.id, d.ord
), cooldown AS (
    INSERT INTO cooldowns (detector, symbol, type, last_event_ns, until_ns, last_entry_price, last_direction)
    SELECT DISTINCT ON (input.detector, input.symbol, input.type)
           input.detector, input.symbol, input.type, input.last_event_ns, input.until_ns,
           input.entry_price, input.direction
    FROM input JOIN alert USING (signature)
    WHERE input.until_ns IS NOT NULL
    ORDER BY input.detector, input.symbol, input.type, input.ord DESC
    ON CONFLICT (detector, symbol, type) DO UPDATE
    SET last_event_ns = excluded.last_event_ns, until_ns = excluded.until_ns,
        last_entry_price = excluded.last_entry_price, last_direction = excluded.last_direction
)
SELECT signature, id FROM alert
"""


class InsertRequest(msgspec.Struct, frozen=True):
    signal: Signal
    signature: str
    channels: tuple[str, ...]
    created_at_ns: int
    cooldown_until_ns: int | None
    entry_price: float | None


async def insert_batch(pool: asyncpg.Pool, requests: Sequence[InsertRequest]) -> list[int | None]:
    """Write `requests` (distinct signatures) in one statement; the alert id of each, None if it existed."""
    signals = [r.signal for r in requests]
    rows = await pool.fetch(
        _INSERT_BATCH,
        [r.signature for r in requests],
        [s.detector for s in signals],
        [s.kind for s in signals],
        [s.symbol for s in signals],
        [s.timeframe for s in signals],
        [s.severity.value for s in signals],
        [s.window_start_ms for s in signals],
        [s.window_end_ms for s in signals],
        [r.created_at_ns for r in requests],
        [SIGNAL_ENCODER.encode(s) for s in signals],
        [s.ts_event_ns for s in signals],
        [r.cooldown_until_ns for r in requests],
        [r.entry_price for r in requests],
        [s.direction.value for s in signals],
        [r.signature for r in requests for _ in r.channels],
        [c for r in requests for c in r.channels],
    )
    ids = {str(row[0]): int(row[1]) for row in rows}
    return [ids.get(r.signature) for r in requests]


_Outcome = int | None | Exception


class GroupInserter:
    """Queues `insert` calls; one writer task writes them in batches of up to `max_batch`."""

    def __init__(self, pool: Callable[[], asyncpg.Pool], *, max_batch: int = 500) -> None:
        self._pool = pool
        self._max_batch = max_batch
        self._queue: list[tuple[InsertRequest, asyncio.Future[int | None]]] = []
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._closing = False

    def start(self, name: str) -> None:
        self._closing = False
        self._wake = asyncio.Event()
        self._writer = asyncio.create_task(self._write_loop(), name=name)

    async def stop(self) -> None:
        """Write what is queued, then stop the writer."""
        if self._writer is None:
            return
        self._closing = True
        self._wake.set()
        await self._writer
        self._writer = None

    async def insert(self, request: InsertRequest) -> int | None:
        if self._writer is None:
            raise RuntimeError("store is not open; call open() first")
        future: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._queue.append((request, future))
        self._wake.set()
        return await future

    async def _write_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
                await self._write(batch)
            if self._closing:
                return

    async def _write(self, batch: list[tuple[InsertRequest, asyncio.Future[int | None]]]) -> None:
        first: dict[str, InsertRequest] = {}
        for request, _ in batch:
            first.setdefault(request.signature, request)
        unique = list(first.values())
        outcomes: dict[str, _Outcome] = {}
        try:
            outcomes.update(zip(first, await insert_batch(self._pool(), unique), strict=True))
        except Exception as batch_error:
            if len(unique) == 1:
                outcomes[unique[0].signature] = batch_error
            else:
                for request in unique:
                    try:
                        outcomes[request.signature] = (await insert_batch(self._pool(), [request]))[0]
                    except Exception as e:
                        outcomes[request.signature] = e
        for request, future in batch:
            if future.done():
                continue
            outcome = outcomes[request.signature]
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome if first[request.signature] is request else None)
