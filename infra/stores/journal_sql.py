"""Writing a batch's journal rows inside the event store's transaction (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from smsledger.consumers.journal import (
    JOURNAL_TABLES,
    RELEASED_NOTE,
    SINGLE_CLOCK,
    Batch,
    log_rows,
)
from smsledger.domain.policy_versions import stamp
from smsledger.projections.formats import iso
from smsledger.projections.formats import stamp as fixed_width

SQLITE_TYPES = {"blob": "BLOB", "serial": "INTEGER PRIMARY KEY AUTOINCREMENT", "time": "TEXT"}
POSTGRES_TYPES = {"blob": "BYTEA", "serial": "BIGSERIAL PRIMARY KEY", "time": "TIMESTAMPTZ"}


def clock_time(moment: datetime) -> str:
    """The ledger clock as stored: the read models' fixed-width RFC 3339 UTC form (a
    `timestamptz` in PostgreSQL takes it as it is)."""
    stored = fixed_width(iso(moment))
    assert stored is not None  # a time in, a text out
    return stored


def stored_clock(value: str | datetime) -> datetime:
    """The ledger clock as read: text from SQLite (this form, or an older store's
    `isoformat`), a datetime from PostgreSQL."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def journal_ddl(types: dict[str, str]) -> list[str]:
    return [statement.format(**types) for statement in JOURNAL_TABLES]


def write_journal(
    cursor: Any, batch: Batch, placeholder: str = "?", *, claims_released: bool = False
) -> None:
    """Insert the journal rows of `batch` with DB-API `cursor` (`claims_released`: the
    caller ran `release_claims` already, before inserting the batch's processed rows)."""

    def sql(statement: str) -> str:
        return statement if placeholder == "?" else statement.replace("?", placeholder)

    if batch.unparked:
        cursor.executemany(
            sql("DELETE FROM parked_messages WHERE message_id = ?"),
            [(m,) for m in sorted(batch.unparked)],
        )
    if not claims_released:
        release_claims(cursor, batch, placeholder)
    if batch.processed:
        cursor.executemany(
            sql("INSERT INTO processed_messages VALUES (?, ?, ?, ?, ?)"), batch.processed
        )
    if batch.rejections:
        cursor.executemany(
            sql("INSERT INTO rejections VALUES (?, ?, ?, ?, ?, ?, ?, ?)"), batch.rejections
        )
    if batch.dead_letters:
        cursor.executemany(
            sql(
                "INSERT INTO dead_letters (message_id, reason, detail, source, partition_no,"
                " offset_no, raw, fingerprint) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (fingerprint) DO NOTHING"
            ),
            [(*letter, dead_letter_fingerprint(letter)) for letter in batch.dead_letters],
        )
    if batch.released:
        cursor.executemany(
            sql("UPDATE dead_letters SET detail = detail || ? WHERE message_id = ?"),
            [(RELEASED_NOTE, m) for m in sorted(batch.released)],
        )
    if batch.parked:
        cursor.executemany(
            sql("INSERT INTO parked_messages VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
            [
                (p.message_id, p.kind, p.subject, p.at.isoformat(), p.inbound.source,
                 p.inbound.partition, p.inbound.offset, p.inbound.raw)
                for p in batch.parked.values()
            ],
        )
    _write_deadlines(cursor, batch, sql)
    _write_policy_log(cursor, batch, sql)
    if batch.offsets:
        cursor.executemany(
            sql(
                "INSERT INTO consumer_offsets VALUES (?, ?, ?, ?) ON CONFLICT"
                " (consumer_group, topic, partition_no) DO UPDATE SET"
                " next_offset = excluded.next_offset"
            ),
            [(batch.consumer_group, t, p, o) for (t, p), o in sorted(batch.offsets.items())],
        )
    _write_clocks(cursor, batch, sql)
    if batch.watermark is not None:
        cursor.execute(
            sql(
                "INSERT INTO ledger_clock VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET"
                " watermark = CASE WHEN excluded.watermark > ledger_clock.watermark"
                " THEN excluded.watermark ELSE ledger_clock.watermark END,"
                " policy = excluded.policy"
            ),
            (clock_time(batch.watermark), batch.policy),
        )


def release_claims(cursor: Any, batch: Batch, placeholder: str = "?") -> None:
    """Drop the journal rows by which dead letters held the message ids now released; runs
    before the batch's own rows for those ids are inserted."""
    if batch.released:
        cursor.executemany(
            f"DELETE FROM processed_messages WHERE message_id = {placeholder}",
            [(m,) for m in sorted(batch.released)],
        )


def dead_letter_fingerprint(letter: tuple[Any, ...]) -> str:
    """A dead letter is stored once: one with a message id by its id and bytes (a line
    that lost its id to another is dead-lettered again when the input is read again),
    one without by where it came from and its bytes."""
    message_id, _, _, source, partition, offset, raw = letter
    if message_id is not None:
        where = f"id\0{message_id}\0".encode()
    else:
        where = f"{source}\0{partition}\0{offset}\0".encode()
    return hashlib.sha256(where + bytes(raw)).hexdigest()


def missing_digest_column(columns: set[str]) -> list[str]:
    """The statement that brings a journal written before digests were kept up to date."""
    if "digest" in columns:
        return []
    return ["ALTER TABLE processed_messages ADD COLUMN digest TEXT"]


def _write_deadlines(cursor: Any, batch: Batch, sql: Any) -> None:
    upserts = [
        (aggregate_id.hex, kind, due.isoformat(), account)
        for aggregate_id, (kind, due, account) in batch.deadlines.items()
        if due is not None
    ]
    deletes = [(a.hex,) for a, (_, due, _) in batch.deadlines.items() if due is None]
    if upserts:
        cursor.executemany(
            sql(
                "INSERT INTO deadlines VALUES (?, ?, ?, ?) ON CONFLICT (aggregate_id)"
                " DO UPDATE SET due = excluded.due, kind = excluded.kind"
            ),
            upserts,
        )
    if deletes:
        cursor.executemany(sql("DELETE FROM deadlines WHERE aggregate_id = ?"), deletes)


def _write_clocks(cursor: Any, batch: Batch, sql: Any) -> None:
    if batch.clocks:
        cursor.executemany(
            sql(
                "INSERT INTO partition_clocks VALUES (?, ?, ?, ?) ON CONFLICT"
                " (consumer_group, partition_no) DO UPDATE SET clock = excluded.clock,"
                " latest = excluded.latest"
            ),
            sorted((batch.consumer_group, SINGLE_CLOCK if p is None else p, _iso(clock),
                    _iso(latest)) for p, (clock, latest) in batch.clocks.items()),
        )
    if batch.late:
        cursor.executemany(sql("INSERT INTO late_messages VALUES (?, ?, ?, ?, ?, ?)"), batch.late)


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def _write_policy_log(cursor: Any, batch: Batch, sql: Any) -> None:
    """The inbound log, and the policy versions the batch's decisions used."""
    if batch.inbound:
        cursor.executemany(
            sql("INSERT INTO inbound_log (kind, at, lines, raw) VALUES (?, ?, ?, ?)"),
            log_rows(batch.inbound),
        )
    if batch.policy_versions:
        cursor.executemany(
            sql(
                "INSERT INTO policy_versions VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (ref)"
                " DO UPDATE SET first_at = CASE WHEN excluded.first_at < policy_versions.first_at"
                " THEN excluded.first_at ELSE policy_versions.first_at END,"
                " last_at = CASE WHEN excluded.last_at > policy_versions.last_at"
                " THEN excluded.last_at ELSE policy_versions.last_at END"
            ),
            [(*row[:6], stamp(row[6]), stamp(row[7]))
             for _, row in sorted(batch.policy_versions.items())],
        )
