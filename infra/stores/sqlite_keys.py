"""Where SQLite keeps each aggregate's events: under a small integer key given to the
aggregate when its first event is stored, not under its originator id.

Originator ids are UUIDs derived from external ids, so an index on them takes each new
event at a random place: once that index outgrows the page cache, nearly every event of a
batch dirties a page of its own, and the commit writes them all. A 3M-message log spent
58% of its growth in per-message cost there. Keys are handed out in the order aggregates
first appear, so an order's events (all written within minutes of each other) land at the
index's end; only long-lived accounts still write into older pages. The id is looked up
in `aggregate_keys` (one row per aggregate, a fifth of the events' rows, and it stays in
the page cache far longer).

    aggregate_keys (key INTEGER PRIMARY KEY, originator_id TEXT NOT NULL UNIQUE)
    stored_events (..., aggregate_key), UNIQUE (aggregate_key, originator_version)

A second creation of the same aggregate fails on `aggregate_keys`' unique id, a second
event of one version on the events' unique key: the library's IntegrityError either way.
"""

from __future__ import annotations

from typing import Any

KEYS_TABLE = "aggregate_keys"
KEYS_DDL = (f"CREATE TABLE IF NOT EXISTS {KEYS_TABLE} (key INTEGER PRIMARY KEY,"
            " originator_id TEXT NOT NULL UNIQUE)")
# An event is stored with its aggregate's key; only a row whose id was removed by hand has
# none (a store keyed from such a log keeps it, and the audit reports it).
KEY_COLUMN = "aggregate_key INTEGER CHECK (aggregate_key IS NOT NULL OR originator_id IS NULL)"
# The key of an event's aggregate, looked up as the event is inserted.
KEY_OF = f"(SELECT key FROM {KEYS_TABLE} WHERE originator_id = ?)"


def events_ddl(table: str) -> list[str]:
    """The events table, the aggregates' keys and the events' unique key. The digest column
    is added by the chain (`ensure_chain`), as it is to a store from before the chain."""
    return [
        f"CREATE TABLE IF NOT EXISTS {table} (originator_id TEXT, originator_version INTEGER,"
        f" topic TEXT, state BLOB, {KEY_COLUMN})",
        KEYS_DDL,
        key_index(table),
    ]


def key_index(table: str) -> str:
    return (f"CREATE UNIQUE INDEX IF NOT EXISTS {table}_by_key"
            f" ON {table} (aggregate_key, originator_version)")


def columns_of(cursor: Any, table: str) -> list[str]:
    cursor.execute(f"SELECT name FROM pragma_table_info('{table}')")
    return [row[0] for row in cursor.fetchall()]


def key_existing_log(cursor: Any, table: str) -> int | None:
    """Re-key a log written under the library's (originator id, version) primary key, in
    the caller's write transaction: keys in the order the aggregates first appear, each
    event copied with its position (rowid), then the table swapped for the keyed one.
    Returns the number of events re-keyed, None if there was nothing to do."""
    columns = columns_of(cursor, table)
    if not columns or "aggregate_key" in columns:
        return None
    cursor.execute(KEYS_DDL)
    cursor.execute(
        f"INSERT INTO {KEYS_TABLE} (originator_id) SELECT originator_id FROM {table}"
        " WHERE originator_id IS NOT NULL GROUP BY originator_id ORDER BY MIN(rowid)")
    kept = [c for c in columns if c != "digest"]
    digest = ["digest"] if "digest" in columns else []
    declared = ", ".join(
        f"{c} {t}" for c, t in zip(kept, _types(cursor, table, kept), strict=True))
    keyed = f"{table}_keyed"
    cursor.execute(f"CREATE TABLE {keyed} ({declared}, {KEY_COLUMN}"
                   f"{', digest BLOB' if digest else ''})")
    copied = ", ".join([*kept, *digest])
    cursor.execute(
        f"INSERT INTO {keyed} (rowid, {copied}, aggregate_key)"
        f" SELECT e.rowid, {', '.join(f'e.{c}' for c in [*kept, *digest])}, k.key"
        f" FROM {table} e LEFT JOIN {KEYS_TABLE} k ON k.originator_id = e.originator_id"
        " ORDER BY e.rowid")
    cursor.execute(f"SELECT COUNT(*) FROM {keyed}")
    moved = cursor.fetchone()[0]
    views = _drop_views(cursor)  # a view naming the table would stop the rename
    cursor.execute(f"DROP TABLE {table}")
    cursor.execute(f"ALTER TABLE {keyed} RENAME TO {table}")
    cursor.execute(key_index(table))
    for sql in views:
        cursor.execute(sql)
    return int(moved)


def _types(cursor: Any, table: str, names: list[str]) -> list[str]:
    cursor.execute(f"SELECT name, type FROM pragma_table_info('{table}')")
    declared = {row[0]: row[1] for row in cursor.fetchall()}
    return [declared[name] for name in names]


def _drop_views(cursor: Any) -> list[str]:
    cursor.execute("SELECT name, sql FROM sqlite_master WHERE type = 'view'")
    views = cursor.fetchall()
    for name, _ in views:
        cursor.execute(f'DROP VIEW "{name}"')
    return [sql for _, sql in views]
