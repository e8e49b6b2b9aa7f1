"""The `?`-placeholder database adapter on the PostgreSQL store's datastore, for projections
and journal reads."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import orjson
from eventsourcing.postgres import PostgresDatastore
from psycopg import Cursor
from psycopg.rows import tuple_row

from smsledger.infra.stores.postgres import lock_for_ddl


@lru_cache(maxsize=512)
def to_pyformat(sql: str) -> str:
    """`?` placeholders to psycopg's `%s`; a literal `%` doubles. (No `?` in literals.)"""
    return sql.replace("%", "%%").replace("?", "%s")


class PostgresDatabase:
    """Queries and transactions on the PostgreSQL schema that holds the events.

    Rows are tuples: the datastore's connections return dicts, its cursors are not used.
    """

    dialect = "postgres"

    def __init__(self, datastore: PostgresDatastore) -> None:
        self.datastore = datastore

    @contextmanager
    def transaction(self) -> Iterator[Cursor[Any]]:
        with (
            self.datastore.get_connection() as conn,
            conn.transaction(),
            conn.cursor(row_factory=tuple_row) as cursor,
        ):
            yield cursor

    def missing_relations(self, names: Sequence[str]) -> set[str]:
        """Which of these tables and indexes the store's schema does not have."""
        in_schema = (
            "(SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = current_schema()) AS in_schema"
        )
        return set(names) - self.present(in_schema, "relname", names)

    def lock_for_ddl(self, cursor: Cursor[Any]) -> None:
        lock_for_ddl(cursor)

    def execute(self, cursor: Cursor[Any], sql: str, params: Sequence[Any] = ()) -> None:
        cursor.execute(to_pyformat(sql), tuple(params))

    def executemany(self, cursor: Cursor[Any], sql: str, seq: Sequence[Sequence[Any]]) -> None:
        cursor.executemany(to_pyformat(sql), seq)

    def present(self, table: str, column: str, values: Sequence[str]) -> set[str]:
        """Which of the text `values` the column holds."""
        return {r[0] for r in self.rows_with(table, column, column, values)}

    def rows_with(
        self, table: str, columns: str, column: str, values: Sequence[str]
    ) -> list[tuple[Any, ...]]:
        """`columns` of the rows whose text `column` is one of `values`: one statement, the
        values as one JSON array (a long placeholder list costs psycopg a parse per query).
        No PostgreSQL text holds a NUL, so values with one are in no row (and are left out:
        the JSON array could not be read as text)."""
        return self.query(
            f"SELECT {columns} FROM {table} WHERE {column} IN"
            " (SELECT json_array_elements_text(?::json))",
            (orjson.dumps([v for v in values if "\x00" not in v]).decode(),),
        )

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with (
            self.datastore.get_connection() as conn,
            conn.cursor(row_factory=tuple_row) as cursor,
        ):
            cursor.execute(to_pyformat(sql), tuple(params))
            return cursor.fetchall()
