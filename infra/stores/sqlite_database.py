"""DB-API access beside the event store, on the same datastore (SQLite or PostgreSQL)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

import orjson
from eventsourcing.sqlite import SQLiteDatastore

from smsledger.infra.stores.sqlite_connections import plain_rows, write_transaction


class SQLiteDatabase:
    """Queries and transactions on the SQLite file that holds the events."""

    dialect = "sqlite"

    def __init__(self, datastore: SQLiteDatastore) -> None:
        self.datastore = datastore

    def transaction(self) -> AbstractContextManager[Any]:
        """A write transaction that takes the write lock first (BEGIN IMMEDIATE)."""
        return write_transaction(self.datastore)

    def missing_relations(self, names: Sequence[str]) -> set[str]:
        """Which of these tables and indexes the database does not have."""
        return set(names) - self.present("sqlite_master", "name", names)

    def lock_for_ddl(self, cursor: Any) -> None:
        """Nothing to take: the transaction holds the database's write lock already."""

    def execute(self, cursor: Any, sql: str, params: Sequence[Any] = ()) -> None:
        cursor.execute(sql, tuple(params))

    def executemany(self, cursor: Any, sql: str, seq: Sequence[Sequence[Any]]) -> None:
        cursor.executemany(sql, seq)

    def present(self, table: str, column: str, values: Sequence[str]) -> set[str]:
        """Which of the text `values` the column holds."""
        return {r[0] for r in self.rows_with(table, column, column, values)}

    def rows_with(
        self, table: str, columns: str, column: str, values: Sequence[str]
    ) -> list[tuple[Any, ...]]:
        """`columns` of the rows whose text `column` is one of `values`: one statement, the
        values as one JSON array (a query per 500 placeholders cost twice as much for a
        batch of 4,000). json_each ends a text at a NUL, so values holding one are bound
        as parameters of a statement of their own."""
        with_nul = [v for v in values if "\x00" in v]
        rows = self.query(
            f"SELECT {columns} FROM {table} WHERE {column} IN (SELECT value FROM json_each(?))",
            (orjson.dumps([v for v in values if "\x00" not in v]).decode(),),
        )
        if with_nul:
            marks = ",".join("?" * len(with_nul))
            rows += self.query(
                f"SELECT {columns} FROM {table} WHERE {column} IN ({marks})", with_nul)
        return rows

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.datastore.transaction(commit=False) as cursor:
            plain_rows(cursor).execute(sql, tuple(params))
            return cursor.fetchall()  # type: ignore[no-any-return]
