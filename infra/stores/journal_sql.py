"""Writing a batch's journal rows inside the event store's transaction (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from smsledger.consumers.journal import RELEASED_NOTE, SINGLE_CLOCK, Batch, log_rows
from smsledger.projections.formats import iso
from smsledger.projections.formats import stamp as fixed_width

# The other tables' types (the hash chain's); the journal's are `journal_tables.JOURNAL_TYPES`.
SQLITE_TYPES = {"blob": "BLOB", "serial": "INTEGER PRIMARY KEY AUTOINCREMENT", "time": "TEXT"}
POSTGRES_TYPES = {"blob": "BYTEA", "serial": "BIGSERIAL PRIMARY KEY", "time": "TIMESTAMPTZ"}

TimeIn = Callable[[Any], Any]


def clock_time(moment: datetime) -> str:
    """The ledger clock as stored: the read models' fixed-width RFC 3339 UTC form (a
    `timestamptz` in PostgreSQL takes it as it is)."""
    stored = fixed_width(iso(moment))
    assert stored is not None  # a time in, a text out
    return stored


def sqlite_time(value: datetime | str | None) -> str | None:
    """A journal time as SQLite stores it, the read models' fixed-width `…Z` text (text
    order is time order), from a datetime, an `iso` text or an `isoformat` one."""
    if value is None:
        return None
    if isinstance(value, str):
        if value.endswith("Z") and len(value) in (20, 27):  # `iso`'s two widths
            return fixed_width(value)
        value = datetime.fromisoformat(value)
    return value.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


def _typed(value: Any) -> Any:
    """A time as PostgreSQL's `timestamptz` takes it: a datetime, or RFC 3339 text."""
    return value


def stored_time(value: str | datetime | None) -> datetime | None:
    """A journal time as read, in UTC: text from SQLite (this form, or an older store's),
    a datetime from PostgreSQL (in the session's time zone)."""
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment.astimezone(UTC)


def stored_clock(value: str | datetime) -> datetime:
    """The ledger clock as read (see `stored_time`)."""
    moment = stored_time(value)
    assert moment is not None  # NOT NULL
    return moment


def json_rules(rules: str) -> str:
    """The engine's comma-separated rule ids as the JSON array SQLite stores."""
    return orjson.dumps([r for r in rules.split(",") if r]).decode()


def write_journal(
    cursor: Any, batch: Batch, dialect: str = "sqlite", *, claims_released: bool = False
) -> None:
    """Insert the journal rows of `batch` with DB-API `cursor` (`claims_released`: the
    caller ran `release_claims` already, before inserting the batch's processed rows)."""
    sql = _placeholders(dialect)
    time_in: TimeIn = sqlite_time if dialect == "sqlite" else _typed
    if batch.unparked:
        cursor.executemany(sql("DELETE FROM parked_messages WHERE message = ?"),
                           [(m,) for m in sorted(batch.unparked)])
    if not claims_released:
        release_claims(cursor, batch, dialect)
    if batch.processed:
        cursor.executemany(sql("INSERT INTO processed_messages VALUES (?, ?, ?, ?, ?)"),
                           batch.processed)
    if batch.rejections:  # (the PostgreSQL store inserts these itself, see `postgres.py`)
        cursor.executemany(sql("INSERT INTO rejections VALUES (?, ?, ?, ?, ?, ?, ?, ?)"), [
            (*r[:2], time_in(r[2]), *r[3:7], json_rules(r[7])) for r in batch.rejections])
    _write_dead_letters(cursor, batch, sql)
    if batch.parked:
        cursor.executemany(sql("INSERT INTO parked_messages VALUES (?, ?, ?, ?, ?, ?, ?, ?)"), [
            (p.message_id, p.kind, p.subject, time_in(p.at), p.inbound.source,
             p.inbound.partition, p.inbound.offset, p.inbound.raw)
            for p in batch.parked.values()])
    _write_deadlines(cursor, batch, sql, time_in)
    _write_policy_log(cursor, batch, sql, time_in)
    if batch.offsets:
        cursor.executemany(sql(
            "INSERT INTO consumer_offsets VALUES (?, ?, ?, ?) ON CONFLICT"
            ' (consumer_group, topic, "partition") DO UPDATE SET'
            " next_offset = excluded.next_offset"),
            [(batch.consumer_group, t, p, o) for (t, p), o in sorted(batch.offsets.items())])
    _write_clocks(cursor, batch, sql, time_in)


def _placeholders(dialect: str) -> Callable[[str], str]:
    if dialect == "sqlite":
        return lambda statement: statement
    return lambda statement: statement.replace("?", "%s")


def release_claims(cursor: Any, batch: Batch, dialect: str = "sqlite") -> None:
    """Drop the journal rows by which dead letters held the message ids now released; runs
    before the batch's own rows for those ids are inserted."""
    if batch.released:
        cursor.executemany(_placeholders(dialect)(
            "DELETE FROM processed_messages WHERE message = ?"),
            [(m,) for m in sorted(batch.released)])


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


def _write_dead_letters(cursor: Any, batch: Batch, sql: Callable[[str], str]) -> None:
    if batch.dead_letters:
        cursor.executemany(sql(
            'INSERT INTO dead_letters (message, reason, detail, source, "partition",'
            ' "offset", raw, fingerprint) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'
            " ON CONFLICT (fingerprint) DO NOTHING"),
            [(*letter, dead_letter_fingerprint(letter)) for letter in batch.dead_letters])
    if batch.released:
        cursor.executemany(sql("UPDATE dead_letters SET detail = detail || ? WHERE message = ?"),
                           [(RELEASED_NOTE, m) for m in sorted(batch.released)])


def _write_deadlines(cursor: Any, batch: Batch, sql: Callable[[str], str], time_in: TimeIn
                     ) -> None:
    upserts = [
        (aggregate_id.hex, kind, time_in(due), account)
        for aggregate_id, (kind, due, account) in batch.deadlines.items()
        if due is not None
    ]
    deletes = [(a.hex,) for a, (_, due, _) in batch.deadlines.items() if due is None]
    if upserts:
        cursor.executemany(sql(
            "INSERT INTO deadlines VALUES (?, ?, ?, ?) ON CONFLICT (aggregate_id)"
            " DO UPDATE SET due = excluded.due, kind = excluded.kind"), upserts)
    if deletes:
        cursor.executemany(sql("DELETE FROM deadlines WHERE aggregate_id = ?"), deletes)


def _write_clocks(cursor: Any, batch: Batch, sql: Callable[[str], str], time_in: TimeIn
                  ) -> None:
    """The partitions' clocks, the late messages and the ledger clock."""
    if batch.clocks:
        cursor.executemany(sql(
            "INSERT INTO partition_clocks VALUES (?, ?, ?, ?) ON CONFLICT"
            ' (consumer_group, "partition") DO UPDATE SET clock = excluded.clock,'
            " latest = excluded.latest"),
            sorted((batch.consumer_group, SINGLE_CLOCK if p is None else p, time_in(clock),
                    time_in(latest)) for p, (clock, latest) in batch.clocks.items()))
    if batch.late:
        cursor.executemany(sql("INSERT INTO late_messages VALUES (?, ?, ?, ?, ?, ?)"), [
            (m, time_in(at), time_in(clock), *rest) for m, at, clock, *rest in batch.late])
    if batch.watermark is not None:
        # Text against text in SQLite, times in PostgreSQL: the later clock is kept.
        cursor.execute(sql(
            "INSERT INTO ledger_clock VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET"
            " watermark = CASE WHEN excluded.watermark > ledger_clock.watermark"
            " THEN excluded.watermark ELSE ledger_clock.watermark END,"
            " policy = excluded.policy"), (clock_time(batch.watermark), batch.policy))


def _write_policy_log(cursor: Any, batch: Batch, sql: Callable[[str], str], time_in: TimeIn
                      ) -> None:
    """The inbound log, and the policy versions the batch's decisions used."""
    if batch.inbound:
        cursor.executemany(
            sql("INSERT INTO inbound_log (kind, at, lines, raw) VALUES (?, ?, ?, ?)"),
            [(kind, time_in(at), lines, raw) for kind, at, lines, raw in log_rows(batch.inbound)])
    if batch.policy_versions:
        cursor.executemany(sql(
            "INSERT INTO policy_versions VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (ref)"
            " DO UPDATE SET first_at = CASE WHEN excluded.first_at < policy_versions.first_at"
            " THEN excluded.first_at ELSE policy_versions.first_at END,"
            " last_at = CASE WHEN excluded.last_at > policy_versions.last_at"
            " THEN excluded.last_at ELSE policy_versions.last_at END"),
            [(*row[:3], time_in(row[3]), *row[4:6], time_in(row[6]), time_in(row[7]))
             for _, row in sorted(batch.policy_versions.items())])
