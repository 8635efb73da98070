"""PostgreSQL implementation of the alert store (satisfies `alerts.ports.AlertStore` structurally), for
several instances sharing one database. Same contract, schema versions and row types as `SqliteStore`.

Each write is one transaction on a pooled asyncpg connection, so the outbox guarantee holds: the
alert, its pending deliveries and its cooldown commit together before anything is sent. Alerts are
group-committed (`pg_outbox.GroupInserter`: one statement per batch); other writes are one statement
each on the pool.

Secrets: the DSN is a SecretStr and is never logged; a failure to connect raises `RetryableError` with
the DSN's password removed (the driver's own message may quote the DSN), not chained to the original.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from pydantic import SecretStr

from cryptoradar.core.clock import Clock, SystemClock
from cryptoradar.core.errors import RetryableError
from cryptoradar.events import Signal
from cryptoradar.storage.pg_migrations import apply_migrations
from cryptoradar.storage.pg_outbox import GroupInserter, InsertRequest
from cryptoradar.storage.rows import (
    MATCHERS_DECODER,
    PENDING_DELIVERIES_SQL,
    SIGNAL_DECODER,
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

_REDACTED = "***"
_FAIL_OVER_INSERT = """
WITH new AS (
    INSERT INTO deliveries (alert_id, channel, state, attempts, next_attempt_at_ns, rerouted_from)
    SELECT i.alert_id, t.channel, 'pending', 0, $3, $4
    FROM unnest($1::bigint[]) WITH ORDINALITY AS i(alert_id, n)
    CROSS JOIN unnest($2::text[]) WITH ORDINALITY AS t(channel, m)
    ORDER BY i.n, t.m
    ON CONFLICT (alert_id, channel) DO NOTHING
    RETURNING id, alert_id, channel
)
SELECT new.channel, a.id, a.created_at_ns, a.payload FROM new JOIN alerts a ON a.id = new.alert_id
ORDER BY new.alert_id, new.id
"""


def redact_dsn(dsn: str) -> str:
    """`dsn` with its password replaced, safe to log: postgresql://radar:***@db:5432/radar."""
    try:
        parts = urlsplit(dsn)
        if parts.password is None:
            return dsn
        host = parts.hostname or ""
        netloc = f"{parts.username or ''}:{_REDACTED}@{host}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        return _REDACTED


def _scrub(text: str, dsn: str) -> str:
    """Remove the DSN and its password from an error message."""
    try:
        password = urlsplit(dsn).password
    except ValueError:
        password = None
    text = text.replace(dsn, redact_dsn(dsn))
    if password:
        text = text.replace(password, _REDACTED)
    return text


def _count(status: str) -> int:
    """Rows affected, from a command status such as 'UPDATE 3' or 'DELETE 0'."""
    return int(status.rsplit(" ", 1)[-1])


class PostgresStore:
    """The alert outbox, cooldowns, silences and the key/value state table in a PostgreSQL database."""

    def __init__(
        self,
        dsn: SecretStr,
        *,
        clock: Clock | None = None,
        pool_min_size: int = 1,
        pool_max_size: int = 10,
        connect_timeout_s: float = 10.0,
        command_timeout_s: float = 30.0,
        max_batch: int = 500,
    ) -> None:
        self._dsn = dsn
        self._clock = clock or SystemClock()
        self._pool_min_size = pool_min_size
        self._pool_max_size = pool_max_size
        self._connect_timeout_s = connect_timeout_s
        self._command_timeout_s = command_timeout_s
        self._pool: asyncpg.Pool | None = None
        self._inserter = GroupInserter(lambda: self._db, max_batch=max_batch)

    def __repr__(self) -> str:
        return f"PostgresStore({redact_dsn(self._dsn.get_secret_value())!r})"

    # --- lifecycle -------------------------------------------------------------------------------

    async def open(self) -> None:
        """Connect the pool and migrate. Raises `RetryableError` (password redacted) when unreachable."""
        if self._pool is not None:
            return
        dsn = self._dsn.get_secret_value()
        try:
            pool = await asyncpg.create_pool(
                dsn,
                min_size=self._pool_min_size,
                max_size=self._pool_max_size,
                timeout=self._connect_timeout_s,
                command_timeout=self._command_timeout_s,
            )
        except (OSError, TimeoutError, ValueError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
            message = _scrub(f"{type(e).__name__}: {e}", dsn)
            raise RetryableError(
                f"cannot connect to PostgreSQL at {redact_dsn(dsn)}: {message}; start the server or fix "
                "storage.postgres_dsn"
            ) from None
        try:
            async with pool.acquire() as conn:
                await apply_migrations(conn)
        except BaseException:
            await pool.close()
            raise
        self._pool = pool
        self._inserter.start(f"pg-writer:{id(self):x}")

    async def close(self) -> None:
        """Finish queued writes, wait for queries in flight, then close every connection."""
        if self._pool is None:
            return
        await self._inserter.stop()
        pool, self._pool = self._pool, None
        await pool.close()

    @property
    def _db(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("store is not open; call open() first")
        return self._pool

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
        return await self._inserter.insert(
            InsertRequest(signal, signature, tuple(channels), created_at_ns, cooldown_until_ns, entry_price)
        )

    async def mark_sent(self, channel: str, alert_ids: Sequence[int], sent_at_ns: int) -> None:
        await self._db.execute(
            "UPDATE deliveries SET state = 'sent', attempts = attempts + 1, sent_at_ns = $1"
            " WHERE alert_id = ANY($2::bigint[]) AND channel = $3 AND state = 'pending'",
            sent_at_ns,
            list(alert_ids),
            channel,
        )

    async def mark_retry(
        self, channel: str, alert_ids: Sequence[int], error: str, next_attempt_at_ns: int
    ) -> None:
        await self._db.execute(
            "UPDATE deliveries SET attempts = attempts + 1, last_error = $1, next_attempt_at_ns = $2"
            " WHERE alert_id = ANY($3::bigint[]) AND channel = $4 AND state = 'pending'",
            error,
            next_attempt_at_ns,
            list(alert_ids),
            channel,
        )

    async def mark_failed(self, channel: str, error: str) -> int:
        status = await self._db.execute(
            "UPDATE deliveries SET state = 'failed', last_error = $1 WHERE channel = $2 AND state = 'pending'",
            error,
            channel,
        )
        return _count(status)

    async def fail_over(
        self, channel: str, reason: str, fallbacks: Sequence[str], now_ns: int
    ) -> tuple[int, list[StoredPendingDelivery]]:
        targets = [c for c in fallbacks if c != channel]
        async with self._db.acquire() as conn, conn.transaction():
            failed = await conn.fetch(
                "UPDATE deliveries SET state = 'failed', last_error = $1 WHERE channel = $2"
                " AND state = 'pending' RETURNING alert_id",
                reason,
                channel,
            )
            rows = await conn.fetch(_FAIL_OVER_INSERT, sorted(r[0] for r in failed), targets, now_ns, channel)
        return len(failed), [rerouted_delivery(r[1:], r[0], channel, reason) for r in rows]

    async def failed_deliveries(self, limit: int = 100) -> list[StoredFailedDelivery]:
        rows = await self._db.fetch(failed_deliveries_sql("$1", "string_agg"), max(0, limit))
        return [failed_delivery(r) for r in rows]

    async def mark_retracted(self, channel: str, alert_ids: Sequence[int], reason: str) -> int:
        status = await self._db.execute(
            "UPDATE deliveries SET state = 'failed', last_error = $1"
            " WHERE alert_id = ANY($2::bigint[]) AND channel = $3 AND state = 'pending'",
            reason,
            list(alert_ids),
            channel,
        )
        return _count(status)

    async def pending_deliveries(self) -> list[StoredPendingDelivery]:
        return [pending_delivery(r) for r in await self._db.fetch(PENDING_DELIVERIES_SQL)]

    async def find_alert(self, signature: str) -> StoredAlert | None:
        row = await self._db.fetchrow(
            "SELECT id, signature, created_at_ns, payload FROM alerts WHERE signature = $1", signature
        )
        return None if row is None else _alert(row)

    async def deliveries(self, alert_id: int) -> list[StoredDelivery]:
        rows = await self._db.fetch(
            "SELECT channel, state, attempts, last_error, sent_at_ns FROM deliveries WHERE alert_id = $1"
            " ORDER BY id",
            alert_id,
        )
        return [StoredDelivery(r[0], r[1], r[2], r[3], r[4]) for r in rows]

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
            lambda n: f"${n}",
            detector=detector,
            kind=kind,
            symbol=symbol,
            severity=severity,
            since_ns=since_ns,
            before_id=before_id,
            limit=limit,
        )
        rows = await self._db.fetch(sql, *params)
        return [_alert(r) for r in rows]

    # --- cooldowns, silences, state --------------------------------------------------------------

    async def load_cooldowns(self) -> list[StoredCooldown]:
        rows = await self._db.fetch(
            "SELECT detector, symbol, type, last_event_ns, until_ns, last_entry_price, last_direction"
            " FROM cooldowns"
        )
        return [StoredCooldown(r[0], r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows]

    async def add_silence(
        self, matchers: Sequence[str], *, until_ns: int, created_by: str, reason: str, created_at_ns: int
    ) -> int:
        silence_id = await self._db.fetchval(
            "INSERT INTO silences (matchers, until_ns, created_by, reason, created_at_ns)"
            " VALUES ($1, $2, $3, $4, $5) RETURNING id",
            encode_matchers(tuple(matchers)),
            until_ns,
            created_by,
            reason,
            created_at_ns,
        )
        return int(silence_id)

    async def remove_silence(self, silence_id: int) -> bool:
        return _count(await self._db.execute("DELETE FROM silences WHERE id = $1", silence_id)) > 0

    async def list_silences(self) -> list[StoredSilence]:
        rows = await self._db.fetch(
            "SELECT id, matchers, until_ns, created_by, reason, created_at_ns FROM silences ORDER BY id"
        )
        return [StoredSilence(r[0], MATCHERS_DECODER.decode(r[1]), r[2], r[3], r[4], r[5]) for r in rows]

    async def get_state(self, key: str) -> str | None:
        value = await self._db.fetchval("SELECT value FROM state WHERE key = $1", key)
        return None if value is None else str(value)

    async def set_state(self, key: str, value: str) -> None:
        await self._db.execute(
            "INSERT INTO state (key, value, updated_at_ns) VALUES ($1, $2, $3) ON CONFLICT (key) DO UPDATE"
            " SET value = excluded.value, updated_at_ns = excluded.updated_at_ns",
            key,
            value,
            self._clock.now_ns(),
        )

    async def purge(self, *, alerts_before_ns: int, now_ns: int) -> int:
        async with self._db.acquire() as conn, conn.transaction():
            deleted = _count(
                await conn.execute(
                    "DELETE FROM alerts WHERE created_at_ns < $1 AND NOT EXISTS (SELECT 1 FROM deliveries d"
                    " WHERE d.alert_id = alerts.id AND d.state = 'pending')",
                    alerts_before_ns,
                )
            )
            await conn.execute("DELETE FROM silences WHERE until_ns < $1", now_ns)
            # As in SqliteStore: cooldowns run on event time, so they are kept as long as alerts.
            await conn.execute("DELETE FROM cooldowns WHERE until_ns < $1", alerts_before_ns)
            return deleted


def _alert(row: asyncpg.Record) -> StoredAlert:
    return StoredAlert(row[0], row[1], row[2], SIGNAL_DECODER.decode(row[3]))
