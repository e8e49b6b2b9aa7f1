"""SQLite connections as the ledger opens them: the page cache and checkpoint interval of
every connection in the pool, parameters bound without the sqlite3 module's adapter search,
plain-tuple rows for bulk reads, and write transactions that take the write lock first."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from eventsourcing.persistence import OperationalError
from eventsourcing.sqlite import (
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteCursor,
    SQLiteDatastore,
    SQLiteTransaction,
)

# Pages each connection may keep in memory (negative: KiB). SQLite's default of 2 MB makes
# a log past ~100 MB read index pages of the stored events and the journal back from the OS
# on nearly every insert; 64 MB keeps the hot part of those indexes in the process.
CACHE_KIB = 65_536

# WAL pages after which a commit copies the log back into the database file. At SQLite's
# default of 1,000 pages (4 MB) a 4,000-message batch of the file ingest crossed it on
# every commit, so the pages every batch rewrites (the hot index pages, the table's tail)
# were copied back and synced once per batch: commits took 1.34-1.42 s of a 200,000-message
# ingest. At 20,000 pages (~80 MB of WAL at most between checkpoints) they took
# 0.78-0.85 s; 5,000 and 40,000 did worse. Every commit still syncs the WAL. A large
# ingest's writer checkpoints before it gets there, off its thread (`sqlite_checkpoint`).
WAL_AUTOCHECKPOINT_PAGES = 20_000


def _null(value: None) -> None:
    return None


def bind_nulls_and_blobs_directly() -> None:
    """Give the sqlite3 module an adapter for None and for bytes that returns the value as
    it is (`bytes(b)` is `b` for exact bytes). Without one, the module binds every NULL and
    BLOB parameter only after looking for an `__adapt__` on its protocol type, which raises
    and clears an AttributeError each time: about a quarter of a microsecond per parameter,
    and an ingest binds one BLOB per event and a NULL for most journal rows, a rebuild
    several per row. The values bound are the same; subclasses of bytes are not matched
    and go the module's usual way. Registration is for the whole process."""
    sqlite3.register_adapter(type(None), _null)
    sqlite3.register_adapter(bytes, bytes)


bind_nulls_and_blobs_directly()


def plain_rows(cursor: SQLiteCursor) -> SQLiteCursor:
    """Rows as plain tuples on this cursor (the pool's connections make `sqlite3.Row`s,
    which the library's own queries index by name; bulk reads here need no names)."""
    cursor.sqlite_cursor.row_factory = None
    return cursor


@contextmanager
def write_transaction(datastore: SQLiteDatastore) -> Iterator[SQLiteCursor]:
    """A write transaction that takes the write lock first (BEGIN IMMEDIATE).

    A deferred transaction that reads and then writes fails at once in WAL mode when
    another process wrote in between (the busy timeout does not apply to that); taking
    the lock up front makes concurrent writers — a consumer, a query catching the read
    models up, a second process creating the same tables — wait their turn instead.
    """
    with datastore.get_connection(commit=True) as connection:
        cursor = plain_rows(connection.cursor())
        cursor.execute("BEGIN IMMEDIATE")
        try:
            yield cursor
        except BaseException:
            connection.rollback()
            raise
        connection.commit()


class ImmediateTransaction(SQLiteTransaction):
    """The library's transaction (its commit, rollback and error translation), begun with
    the write lock taken (BEGIN IMMEDIATE): an insert reads the chain's tail before it
    writes, and a deferred transaction that reads first cannot wait for another writer."""

    def __enter__(self) -> SQLiteCursor:
        cursor = self.connection.cursor()
        try:
            cursor.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            raise OperationalError(error) from error
        return plain_rows(cursor)


class SQLiteLedgerPool(SQLiteConnectionPool):
    """The library's pool, with a larger page cache and a larger checkpoint interval on
    every connection it opens."""

    def _create_connection(self) -> SQLiteConnection:
        connection = super()._create_connection()
        connection._sqlite_conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        connection._sqlite_conn.execute(
            f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}")
        return connection
