"""Rows of one table, loaded in bulk for a batch of events and written back in bulk."""

from __future__ import annotations

from collections.abc import Iterable
from operator import itemgetter
from typing import Any

from .tables import TABLES, columns_of, upsert_statement

Row = dict[str, Any]


class Rows:
    """A write-back cache of one table's rows: written back at the end of every batch, and
    kept for the next one up to `keep` rows (the most recently loaded or created)."""

    def __init__(self, table: str, keep: int = 0) -> None:
        self.keep = keep
        self.table = table
        self.columns = columns_of(table)
        self._values = itemgetter(*self.columns)
        self.key = TABLES[table][1]
        self.rows: dict[tuple[Any, ...], Row] = {}
        self.dirty: set[tuple[Any, ...]] = set()

    def load(self, db: Any, cursor: Any, keys: Iterable[tuple[Any, ...]]) -> None:
        wanted = [k for k in set(keys) if k not in self.rows]
        if len(self.key) == 1:
            for start in range(0, len(wanted), 500):
                chunk = [k[0] for k in wanted[start : start + 500]]
                marks = ",".join("?" * len(chunk))
                self._fetch(db, cursor, f"{self.key[0]} IN ({marks})", chunk)
        else:
            condition = " AND ".join(f"{k} = ?" for k in self.key)
            for key in wanted:
                self._fetch(db, cursor, condition, list(key))

    def load_where(self, db: Any, cursor: Any, condition: str, params: list[Any]) -> list[Row]:
        return self._fetch(db, cursor, condition, params)

    def _fetch(self, db: Any, cursor: Any, condition: str, params: list[Any]) -> list[Row]:
        db.execute(cursor, f"SELECT {', '.join(self.columns)} FROM {self.table} WHERE {condition}",
                   params)
        found = []
        for values in cursor.fetchall():
            row = dict(zip(self.columns, tuple(values), strict=True))
            key = tuple(row[k] for k in self.key)
            row["_key"] = key
            found.append(self.rows.setdefault(key, row))
        return found

    def get(self, *key: Any) -> Row | None:
        return self.rows.get(key)

    def put(self, row: Row) -> Row:
        key = tuple(row[k] for k in self.key)
        row["_key"] = key  # not a column: lets `touch` skip rebuilding the key
        self.rows[key] = row
        self.dirty.add(key)
        return row

    def touch(self, row: Row) -> None:
        self.dirty.add(row["_key"])

    def flush(self, db: Any, cursor: Any) -> None:
        if self.dirty:
            values, rows = self._values, self.rows
            params = [values(rows[k]) for k in sorted(self.dirty)]
            db.executemany(cursor, upsert_statement(self.table), params)
        self.dirty.clear()

    def trim(self) -> bool:
        """Over the bound, keep its newest half (insertion order); True if rows went."""
        if len(self.rows) <= self.keep:
            return False
        kept = self.keep // 2
        self.rows = dict(list(self.rows.items())[-kept:]) if kept else {}
        return True

    def clear(self) -> None:
        self.rows.clear()
        self.dirty.clear()
