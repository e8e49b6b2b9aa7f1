"""Where SQLite keeps each aggregate's events: under a small integer key given to the
aggregate when its first event is stored, not under its originator id.

Originator ids are UUIDs derived from external ids, so an index on them takes each new
event at a random place: once that index outgrows the page cache, nearly every event of a
batch dirties a page of its own, and the commit writes them all. A 3M-message log spent
58% of its growth in per-message cost there. Keys are handed out in the order aggregates
first appear, so an order's events (all written within minutes of each other) land at the
index's end; only long-lived accounts still write into older pages. A writer remembers
the keys it met (`AggregateKeys`); any other is looked up in `aggregate_keys` (one row per
aggregate, a fifth of the events' rows).

    aggregate_keys (key INTEGER PRIMARY KEY, originator_id TEXT NOT NULL UNIQUE)
    stored_events (..., aggregate_key), UNIQUE (aggregate_key, originator_version)

A second creation of the same aggregate fails on `aggregate_keys`' unique id, a second
event of one version on the events' unique key: the library's IntegrityError either way.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

INITIAL_VERSION = Aggregate.INITIAL_VERSION
# Keys kept in memory: more than the engine keeps aggregates (200,000 plus 50,000 finished).
KEY_CACHE_SIZE = 1 << 18
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


def declared_columns(cursor: Any, table: str) -> dict[str, str]:
    """The table's columns and their declared types, in the table's order (none: no table)."""
    cursor.execute(f"SELECT name, type FROM pragma_table_info('{table}')")
    return {row[0]: row[1] for row in cursor.fetchall()}


def key_existing_log(cursor: Any, table: str) -> int | None:
    """Re-key a log written under the library's (originator id, version) primary key, in
    the caller's write transaction: keys in the order the aggregates first appear, each
    event copied with its position (rowid), then the table swapped for the keyed one.
    Returns the number of events re-keyed, None if there was nothing to do."""
    columns = declared_columns(cursor, table)
    if not columns or "aggregate_key" in columns:
        return None
    cursor.execute(KEYS_DDL)
    cursor.execute(
        f"INSERT INTO {KEYS_TABLE} (originator_id) SELECT originator_id FROM {table}"
        " WHERE originator_id IS NOT NULL GROUP BY originator_id ORDER BY MIN(rowid)")
    kept = [c for c in columns if c != "digest"]
    digest = ["digest"] if "digest" in columns else []
    declared = ", ".join(f"{c} {columns[c]}" for c in kept)
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


def _drop_views(cursor: Any) -> list[str]:
    cursor.execute("SELECT name, sql FROM sqlite_master WHERE type = 'view'")
    views = cursor.fetchall()
    for name, _ in views:
        cursor.execute(f'DROP VIEW "{name}"')
    return [sql for _, sql in views]


class AggregateKeys:
    """The keys of the aggregates this process writes, kept least-recently-used beside the
    engine's aggregate cache (which they outnumber by a quarter), so that storing an event
    needs no look-up in `aggregate_keys`: only an aggregate not met since it was evicted is
    looked up, in one query per batch. A key is remembered only once its transaction has
    committed (`commit`); keys never change once given."""

    def __init__(self, size: int = KEY_CACHE_SIZE) -> None:
        self.size = size
        self._known: OrderedDict[str, int] = OrderedDict()
        self._staged: dict[str, int] = {}

    def remember(self, found: dict[str, int]) -> None:
        known = self._known
        for originator, key in found.items():
            known[originator] = key
            known.move_to_end(originator)
        while len(known) > self.size:
            known.popitem(last=False)

    def for_events(self, cursor: Any, originators: list[str], versions: list[int]
                   ) -> dict[str, int]:
        """The key of every event's aggregate (events given as their originator ids, as
        the store keeps them, and versions), inside the write transaction: a new
        aggregate's (one whose first event here has the initial version) given now, in the
        order the aggregates first appear; the others remembered or looked up."""
        keys: dict[str, int] = {}
        new: list[str] = []
        missing: list[str] = []
        known = self._known
        for originator, version in zip(originators, versions, strict=True):
            if originator in keys:
                continue
            key = known.get(originator)
            if key is not None:
                keys[originator] = key
                known.move_to_end(originator)
            elif version == INITIAL_VERSION:
                keys[originator] = 0  # given below, in this order
                new.append(originator)
            else:
                keys[originator] = 0
                missing.append(originator)
        if missing:
            found = dict(self.look_up(cursor, missing))
            lost = [o for o in missing if o not in found]
            if lost:
                raise IntegrityError(
                    f"event of aggregate {lost[0]} stored without its first event")
            keys.update(found)
            self._staged.update(found)
        if new:
            cursor.execute(f"SELECT MAX(key) FROM {KEYS_TABLE}")
            first = (cursor.fetchone()[0] or 0) + 1
            given = {originator: first + i for i, originator in enumerate(new)}
            cursor.executemany(f"INSERT INTO {KEYS_TABLE} (key, originator_id) VALUES (?, ?)",
                               [(key, o) for o, key in given.items()])
            keys.update(given)
            self._staged.update(given)
        return keys

    def look_up(self, cursor: Any, originators: list[str]) -> list[tuple[str, int]]:
        found: list[tuple[str, int]] = []
        for start in range(0, len(originators), 500):
            chunk = originators[start:start + 500]
            cursor.execute(f"SELECT originator_id, key FROM {KEYS_TABLE} WHERE originator_id"
                           f" IN ({','.join('?' * len(chunk))})", chunk)
            found.extend((row[0], row[1]) for row in cursor.fetchall())
        return found

    def commit(self) -> None:
        """The transaction that gave or looked up the staged keys committed."""
        staged, self._staged = self._staged, {}
        self.remember(staged)

    def discard(self) -> None:
        self._staged = {}

