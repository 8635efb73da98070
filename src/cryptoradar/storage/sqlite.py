"""SQLite implementation of the alert store (satisfies `alerts.ports.AlertStore` structurally).

Durability: WAL with `synchronous=FULL` by default. With NORMAL a killed *process* loses nothing
committed, but a power loss can roll back the last commits, which here means an alert accepted and
never delivered, or a "sent" mark lost and the alert sent twice. FULL closes that window; its cost
(one fsync per commit) is paid once per batch because writes are group-committed.

Concurrency: one connection owned by one worker thread. aiosqlite hops to its thread once per
statement, which measured ~1.4k outbox transactions/s on the 2-core dev box; here every write is a
small function run inside one transaction with the other writes queued behind it (one thread hop and
one fsync per batch), each under its own SAVEPOINT so one failing write cannot undo its neighbours.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal, TypeVar

from cryptoradar.core.clock import Clock, SystemClock
from cryptoradar.core.errors import StartupError
from cryptoradar.events import Signal
from cryptoradar.storage.migrations import apply_migrations
from cryptoradar.storage.rows import (
    MATCHERS_DECODER,
    PENDING_DELIVERIES_SQL,
    SIGNAL_DECODER,
    SIGNAL_ENCODER,
    StoredAlert,
    StoredCooldown,
    StoredDelivery,
    StoredFailedDelivery,
    StoredPendingDelivery,
    StoredSilence,
    encode_matchers,
    failed_deliveries_sql,
    failed_delivery,
    list_alerts_query,
    pending_delivery,
    rerouted_delivery,
)

T = TypeVar("T")
_Op = Callable[[sqlite3.Connection], object]


class SqliteStore:
    """The alert outbox, cooldowns, silences and a small key/value state table in one SQLite file."""

    def __init__(
        self,
        path: Path,
        *,
        clock: Clock | None = None,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
        busy_timeout_ms: int = 5000,
        max_batch: int = 1000,
    ) -> None:
        self.path = path
        self._clock = clock or SystemClock()
        self._synchronous = synchronous
        self._busy_timeout_ms = busy_timeout_ms
        self._max_batch = max_batch
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None
        self._queue: list[tuple[_Op, asyncio.Future[object]]] = []
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._closing = False

    # --- lifecycle -------------------------------------------------------------------------------

    async def open(self) -> None:
        if self._executor is not None:
            return
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"sqlite:{self.path.name}")
        self._wake = asyncio.Event()
        self._closing = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            await self._run(self._connect)
        except (OSError, sqlite3.DatabaseError) as e:
            self._executor.shutdown(wait=True)
            self._executor = None
            # sqlite's own text ("file is not a database") says neither which file nor what to do.
            raise StartupError(
                f"cannot open the database {self.path}: {e}; move the file aside (a new one is created) or "
                "set storage.sqlite_path to a file in a writable folder"
            ) from e
        self._writer = asyncio.create_task(self._write_loop(), name=f"sqlite-writer:{self.path.name}")

    def _connect(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=self._busy_timeout_ms / 1000)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout_ms)}")
            conn.execute("PRAGMA foreign_keys=ON")
            apply_migrations(conn)
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    async def close(self) -> None:
        """Finish queued writes, then close the connection."""
        if self._executor is None:
            return
        if self._writer is not None:
            self._closing = True
            self._wake.set()
            await self._writer
        await self._run(self._disconnect)
        self._executor.shutdown(wait=True)
        self._executor = None
        self._writer = None

    def _disconnect(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # --- plumbing --------------------------------------------------------------------------------

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("store is not open; call open() first")
        return self._conn

    async def _run(self, fn: Callable[[], T]) -> T:
        if self._executor is None:
            raise RuntimeError("store is not open; call open() first")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self._run(lambda: fn(self._db))

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Queue `fn` for the next group commit and wait until it is durable."""
        if self._writer is None:
            raise RuntimeError("store is not open; call open() first")
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._queue.append((fn, future))
        self._wake.set()
        return await future  # type: ignore[return-value]

    async def _write_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
                ops = [op for op, _ in batch]
                try:
                    outcomes = await self._run(functools.partial(self._apply, ops))
                except Exception as e:
                    outcomes = [e] * len(batch)
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    if future.done():
                        continue
                    if isinstance(outcome, Exception):
                        future.set_exception(outcome)
                    else:
                        future.set_result(outcome)
            if self._closing:
                return

    def _apply(self, ops: list[_Op]) -> list[object]:
        db = self._db
        outcomes: list[object] = []
        db.execute("BEGIN IMMEDIATE")
        try:
            for op in ops:
                db.execute("SAVEPOINT op")
                try:
                    outcomes.append(op(db))
                except Exception as e:
                    db.execute("ROLLBACK TO op")
                    outcomes.append(e)
                db.execute("RELEASE op")
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return outcomes

    # --- outbox ----------------------------------------------------------------------------------

    async def insert_alert(
        self,
        signal: Signal,
        *,
        signature: str,
        channels: Sequence[str],
        created_at_ns: int,
        cooldown_until_ns: int | None,
        entry_price: float | None,
    ) -> int | None:
        payload = SIGNAL_ENCODER.encode(signal)
        channel_list = list(channels)

        def op(db: sqlite3.Connection) -> int | None:
            row = db.execute(
                "INSERT INTO alerts (signature, detector, type, symbol, timeframe, severity, window_start_ms,"
                " bar_close_time_ms, created_at_ns, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (signature) DO NOTHING RETURNING id",
                (
                    signature,
                    signal.detector,
                    signal.kind,
                    signal.symbol,
                    signal.timeframe,
                    signal.severity.value,
                    signal.window_start_ms,
                    signal.window_end_ms,
                    created_at_ns,
                    payload,
                ),
            ).fetchone()
            if row is None:
                return None
            alert_id = int(row[0])
            db.executemany(
                "INSERT INTO deliveries (alert_id, channel, state, attempts, next_attempt_at_ns)"
                " VALUES (?, ?, 'pending', 0, ?)",
                [(alert_id, channel, created_at_ns) for channel in channel_list],
            )
            if cooldown_until_ns is not None:
                db.execute(
                    "INSERT INTO cooldowns (detector, symbol, type, last_event_ns, until_ns, last_entry_price,"
                    " last_direction) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (detector, symbol, type) DO UPDATE"
                    " SET last_event_ns = excluded.last_event_ns, until_ns = excluded.until_ns,"
                    " last_entry_price = excluded.last_entry_price, last_direction = excluded.last_direction",
                    (
                        signal.detector,
                        signal.symbol,
                        signal.kind,
                        signal.ts_event_ns,
                        cooldown_until_ns,
                        entry_price,
                        signal.direction.value,
                    ),
                )
            return alert_id

        return await self._write(op)

    async def mark_sent(self, channel: str, alert_ids: Sequence[int], sent_at_ns: int) -> None:
        rows = [(sent_at_ns, alert_id, channel) for alert_id in alert_ids]

        def op(db: sqlite3.Connection) -> None:
            db.executemany(
                "UPDATE deliveries SET state = 'sent', attempts = attempts + 1, sent_at_ns = ?"
                " WHERE alert_id = ? AND channel = ? AND state = 'pending'",
                rows,
            )

        await self._write(op)

    async def mark_retry(
        self, channel: str, alert_ids: Sequence[int], error: str, next_attempt_at_ns: int
    ) -> None:
        rows = [(error, next_attempt_at_ns, alert_id, channel) for alert_id in alert_ids]

        def op(db: sqlite3.Connection) -> None:
            db.executemany(
                "UPDATE deliveries SET attempts = attempts + 1, last_error = ?, next_attempt_at_ns = ?"
                " WHERE alert_id = ? AND channel = ? AND state = 'pending'",
                rows,
            )

        await self._write(op)

    async def mark_failed(self, channel: str, error: str) -> int:
        def op(db: sqlite3.Connection) -> int:
            cur = db.execute(
                "UPDATE deliveries SET state = 'failed', last_error = ? WHERE channel = ? AND state = 'pending'",
                (error, channel),
            )
            return cur.rowcount

        return await self._write(op)

    async def fail_over(
        self, channel: str, reason: str, fallbacks: Sequence[str], now_ns: int
    ) -> tuple[int, list[StoredPendingDelivery]]:
        targets = [c for c in fallbacks if c != channel]

        def op(db: sqlite3.Connection) -> tuple[int, list[StoredPendingDelivery]]:
            failed = db.execute(
                "UPDATE deliveries SET state = 'failed', last_error = ? WHERE channel = ? AND state = 'pending'"
                " RETURNING alert_id",
                (reason, channel),
            ).fetchall()
            rerouted: list[StoredPendingDelivery] = []
            for alert_id in sorted(int(r[0]) for r in failed):
                alert = db.execute(
                    "SELECT id, created_at_ns, payload FROM alerts WHERE id = ?", (alert_id,)
                ).fetchone()
                for target in targets:
                    new = db.execute(
                        "INSERT INTO deliveries (alert_id, channel, state, attempts, next_attempt_at_ns,"
                        " rerouted_from) VALUES (?, ?, 'pending', 0, ?, ?)"
                        " ON CONFLICT (alert_id, channel) DO NOTHING RETURNING id",
                        (alert_id, target, now_ns, channel),
                    ).fetchone()
                    if new is not None:
                        rerouted.append(rerouted_delivery(alert, target, channel, reason))
            return len(failed), rerouted

        return await self._write(op)

    async def failed_deliveries(self, limit: int = 100) -> list[StoredFailedDelivery]:
        sql = failed_deliveries_sql("?", "group_concat")

        def op(db: sqlite3.Connection) -> list[StoredFailedDelivery]:
            return [failed_delivery(r) for r in db.execute(sql, (max(0, limit),)).fetchall()]

        return await self._read(op)

    async def mark_retracted(self, channel: str, alert_ids: Sequence[int], reason: str) -> int:
        rows = [(reason, alert_id, channel) for alert_id in alert_ids]

        def op(db: sqlite3.Connection) -> int:
            cur = db.executemany(
                "UPDATE deliveries SET state = 'failed', last_error = ?"
                " WHERE alert_id = ? AND channel = ? AND state = 'pending'",
                rows,
            )
            return cur.rowcount

        return await self._write(op)

    async def pending_deliveries(self) -> list[StoredPendingDelivery]:
        def op(db: sqlite3.Connection) -> list[StoredPendingDelivery]:
            return [pending_delivery(r) for r in db.execute(PENDING_DELIVERIES_SQL).fetchall()]

        return await self._read(op)

    async def find_alert(self, signature: str) -> StoredAlert | None:
        def op(db: sqlite3.Connection) -> StoredAlert | None:
            row = db.execute(
                "SELECT id, signature, created_at_ns, payload FROM alerts WHERE signature = ?", (signature,)
            ).fetchone()
            return None if row is None else _alert(row)

        return await self._read(op)

    async def deliveries(self, alert_id: int) -> list[StoredDelivery]:
        def op(db: sqlite3.Connection) -> list[StoredDelivery]:
            rows = db.execute(
                "SELECT channel, state, attempts, last_error, sent_at_ns FROM deliveries WHERE alert_id = ?"
                " ORDER BY id",
                (alert_id,),
            ).fetchall()
            return [StoredDelivery(*r) for r in rows]

        return await self._read(op)

    async def list_alerts(
        self,
        *,
        detector: str | None = None,
        kind: str | None = None,
        symbol: str | None = None,
        severity: str | None = None,
        since_ns: int | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> list[StoredAlert]:
        sql, params = list_alerts_query(
            lambda _: "?",
            detector=detector,
            kind=kind,
            symbol=symbol,
            severity=severity,
            since_ns=since_ns,
            before_id=before_id,
            limit=limit,
        )

        def op(db: sqlite3.Connection) -> list[StoredAlert]:
            return [_alert(r) for r in db.execute(sql, params).fetchall()]

        return await self._read(op)

    # --- cooldowns, silences, state --------------------------------------------------------------

    async def load_cooldowns(self) -> list[StoredCooldown]:
        def op(db: sqlite3.Connection) -> list[StoredCooldown]:
            rows = db.execute(
                "SELECT detector, symbol, type, last_event_ns, until_ns, last_entry_price, last_direction"
                " FROM cooldowns"
            ).fetchall()
            return [StoredCooldown(*r) for r in rows]

        return await self._read(op)

    async def add_silence(
        self, matchers: Sequence[str], *, until_ns: int, created_by: str, reason: str, created_at_ns: int
    ) -> int:
        encoded = encode_matchers(tuple(matchers))

        def op(db: sqlite3.Connection) -> int:
            cur = db.execute(
                "INSERT INTO silences (matchers, until_ns, created_by, reason, created_at_ns) VALUES (?, ?, ?, ?, ?)",
                (encoded, until_ns, created_by, reason, created_at_ns),
            )
            return int(cur.lastrowid or 0)

        return await self._write(op)

    async def remove_silence(self, silence_id: int) -> bool:
        def op(db: sqlite3.Connection) -> bool:
            return db.execute("DELETE FROM silences WHERE id = ?", (silence_id,)).rowcount > 0

        return await self._write(op)

    async def list_silences(self) -> list[StoredSilence]:
        def op(db: sqlite3.Connection) -> list[StoredSilence]:
            rows = db.execute(
                "SELECT id, matchers, until_ns, created_by, reason, created_at_ns FROM silences ORDER BY id"
            ).fetchall()
            return [StoredSilence(r[0], MATCHERS_DECODER.decode(r[1]), r[2], r[3], r[4], r[5]) for r in rows]

        return await self._read(op)

    async def get_state(self, key: str) -> str | None:
        def op(db: sqlite3.Connection) -> str | None:
            row = db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
            return None if row is None else str(row[0])

        return await self._read(op)

    async def set_state(self, key: str, value: str) -> None:
        now_ns = self._clock.now_ns()

        def op(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO state (key, value, updated_at_ns) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE"
                " SET value = excluded.value, updated_at_ns = excluded.updated_at_ns",
                (key, value, now_ns),
            )

        await self._write(op)

    async def purge(self, *, alerts_before_ns: int, now_ns: int) -> int:
        def op(db: sqlite3.Connection) -> int:
            deleted = db.execute(
                "DELETE FROM alerts WHERE created_at_ns < ? AND NOT EXISTS (SELECT 1 FROM deliveries d"
                " WHERE d.alert_id = alerts.id AND d.state = 'pending')",
                (alerts_before_ns,),
            ).rowcount
            db.execute("DELETE FROM silences WHERE until_ns < ?", (now_ns,))
            # Cooldowns run on event time, which lags wall time in replays: keep them as long as alerts.
            db.execute("DELETE FROM cooldowns WHERE until_ns < ?", (alerts_before_ns,))
            return deleted

        return await self._write(op)


def _alert(row: tuple[int, str, int, bytes]) -> StoredAlert:
    return StoredAlert(row[0], row[1], row[2], SIGNAL_DECODER.decode(row[3]))
