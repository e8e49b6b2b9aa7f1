"""DB-API access beside the event store, on the same datastore (SQLite or PostgreSQL)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from eventsourcing.sqlite import SQLiteDatastore

from .sqlite_store import plain_rows, write_transaction


class SQLiteDatabase:
    """Queries and transactions on the SQLite file that holds the events."""

    dialect = "sqlite"

    def __init__(self, datastore: SQLiteDatastore) -> None:
        self.datastore = datastore

    def transaction(self) -> AbstractContextManager[Any]:
        """A write transaction that takes the write lock first (BEGIN IMMEDIATE)."""
        return write_transaction(self.datastore)

    def execute(self, cursor: Any, sql: str, params: Sequence[Any] = ()) -> None:
        cursor.execute(sql, tuple(params))

    def executemany(self, cursor: Any, sql: str, seq: Sequence[Sequence[Any]]) -> None:
        cursor.executemany(sql, seq)

    def present(self, table: str, column: str, values: Sequence[Any]) -> set[Any]:
        """Which of `values` the column holds (IN lists of at most 500 placeholders)."""
        found: set[Any] = set()
        for start in range(0, len(values), 500):
            chunk = values[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.query(f"SELECT {column} FROM {table} WHERE {column} IN ({marks})", chunk)
            found.update(r[0] for r in rows)
        return found

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.datastore.transaction(commit=False) as cursor:
            plain_rows(cursor).execute(sql, tuple(params))
            return cursor.fetchall()  # type: ignore[no-any-return]
