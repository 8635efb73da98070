"""Versioned SQLite schema migrations.

Each migration is a tuple of statements applied in one transaction together with its row in
`schema_version`, so a crash mid-migration leaves the previous version intact. Applying is idempotent:
versions already recorded are skipped. Append new migrations; never edit a released one.
"""

from __future__ import annotations

import sqlite3

from cryptoradar.core.clock import SystemClock

MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (
        1,
        (
            """CREATE TABLE alerts (
                id INTEGER PRIMARY KEY,
                signature TEXT NOT NULL UNIQUE,
                detector TEXT NOT NULL,
                type TEXT NOT NULL,
                symbol TEXT NOT NULL,
                timeframe TEXT NOT NULL,
                severity TEXT NOT NULL,
                window_start_ms INTEGER NOT NULL,
                bar_close_time_ms INTEGER NOT NULL,
                created_at_ns INTEGER NOT NULL,
                payload BLOB NOT NULL
            )""",
            "CREATE INDEX alerts_created ON alerts (created_at_ns)",
            "CREATE INDEX alerts_symbol ON alerts (symbol, created_at_ns)",
            "CREATE INDEX alerts_detector ON alerts (detector, type, created_at_ns)",
            """CREATE TABLE deliveries (
                id INTEGER PRIMARY KEY,
                alert_id INTEGER NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
                channel TEXT NOT NULL,
                state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
                attempts INTEGER NOT NULL DEFAULT 0,
                last_error TEXT,
                next_attempt_at_ns INTEGER NOT NULL,
                sent_at_ns INTEGER,
                UNIQUE (alert_id, channel)
            )""",
            "CREATE INDEX deliveries_pending ON deliveries (channel) WHERE state = 'pending'",
            """CREATE TABLE cooldowns (
                detector TEXT NOT NULL,
                symbol TEXT NOT NULL,
                type TEXT NOT NULL,
                last_event_ns INTEGER NOT NULL,
                until_ns INTEGER NOT NULL,
                last_entry_price REAL,
                last_direction TEXT NOT NULL,
                PRIMARY KEY (detector, symbol, type)
            ) WITHOUT ROWID""",
            """CREATE TABLE silences (
                id INTEGER PRIMARY KEY,
                matchers TEXT NOT NULL,
                until_ns INTEGER NOT NULL,
                created_by TEXT NOT NULL,
                reason TEXT NOT NULL,
                created_at_ns INTEGER NOT NULL
            )""",
            """CREATE TABLE state (
                key TEXT PRIMARY KEY,
                value TEXT NOT NULL,
                updated_at_ns INTEGER NOT NULL
            ) WITHOUT ROWID""",
        ),
    ),
    (
        2,
        (
            # Dedup keys gain the signal kind, market and window end (`alerts.rules.signal_signature`). Rows stored
            # with the older key are rewritten so a re-submitted signal still finds its alert; their
            # market part is empty, as no detector labelled a market when they were written. Only keys
            # exactly in the old form change (wallet keys have their own form).
            """UPDATE alerts
               SET signature = detector || '|' || type || '||' || symbol || '|' || timeframe || '|'
                               || window_start_ms || '|' || bar_close_time_ms
               WHERE signature = detector || '|' || symbol || '|' || timeframe || '|' || window_start_ms""",
        ),
    ),
    (
        3,
        (
            # Channel failover: a delivery made because another channel's failed names that channel here;
            # the reason is the failed delivery's last_error (see `AlertStore.fail_over`).
            "ALTER TABLE deliveries ADD COLUMN rerouted_from TEXT",
        ),
    ),
)


def schema_version(conn: sqlite3.Connection) -> int:
    """The highest applied migration, 0 for a fresh database."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at_ns INTEGER NOT NULL)"
    )
    row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()
    return int(row[0])


def apply_migrations(conn: sqlite3.Connection) -> int:
    """Bring the schema to the newest version; returns it. `conn` must be in autocommit mode."""
    current = schema_version(conn)
    for version, statements in MIGRATIONS:
        if version <= current:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in statements:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_version (version, applied_at_ns) VALUES (?, ?)",
                (version, SystemClock().now_ns()),
            )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        current = version
    return current
