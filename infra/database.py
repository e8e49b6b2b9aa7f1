"""DB-API access beside the event store, on the same datastore (SQLite or PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from eventsourcing.sqlite import SQLiteDatastore

from .sqlite_store import plain_rows


class SQLiteDatabase:
    """Queries and transactions on the SQLite file that holds the events."""

    dialect = "sqlite"

    def __init__(self, datastore: SQLiteDatastore) -> None:
        self.datastore = datastore

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A write transaction that takes the write lock first (BEGIN IMMEDIATE).

        A deferred transaction that reads and then writes fails at once in WAL mode when
        another process wrote in between (the busy timeout does not apply to that); taking
        the lock up front makes concurrent writers — a consumer, a query catching the
        read models up — wait their turn instead.
        """
        with self.datastore.get_connection(commit=True) as connection:
            cursor = plain_rows(connection.cursor())
            cursor.execute("BEGIN IMMEDIATE")
            try:
                yield cursor
            except BaseException:
                connection.rollback()
                raise
            connection.commit()

    def execute(self, cursor: Any, sql: str, params: Sequence[Any] = ()) -> None:
        cursor.execute(sql, tuple(params))

    def executemany(self, cursor: Any, sql: str, seq: Sequence[Sequence[Any]]) -> None:
        cursor.executemany(sql, seq)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.datastore.transaction(commit=False) as cursor:
            plain_rows(cursor).execute(sql, tuple(params))
            return cursor.fetchall()  # type: ignore[no-any-return]
