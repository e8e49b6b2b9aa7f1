"""Rows of the read models, loaded in bulk for a batch of events and written back in bulk."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from operator import itemgetter
from typing import Any

from .columns import decode, decoders, encode, encoders
from .tables import TABLES, column_list, columns_of, quoted, upsert_statement

Row = dict[str, Any]


class Rows:
    """A write-back cache of one table's rows: written back at the end of every batch, and
    kept for the next one up to `keep` rows (the most recently loaded or created)."""

    def __init__(self, table: str, keep: int = 0, *, empty_when_zero: str | None = None) -> None:
        self.keep = keep
        # A row whose column of this name is 0 counts nothing: it is deleted, not written
        # (a day's refund requests of a status that all moved on: a rebuild never makes it).
        self.empty_when_zero = empty_when_zero
        self.table = table
        self.columns = columns_of(table)
        self._values = itemgetter(*self.columns)
        self.key = TABLES[table][1]
        self._key_of = _key_getter(self.key)
        self.rows: dict[tuple[Any, ...], Row] = {}
        self.dirty: set[tuple[Any, ...]] = set()

    def load(self, db: Any, cursor: Any, keys: Iterable[tuple[Any, ...]]) -> None:
        wanted = [k for k in set(keys) if k not in self.rows]
        if len(self.key) == 1:
            self.load_in(db, cursor, self.key[0], [k[0] for k in wanted])
        else:
            condition = " AND ".join(f"{quoted(k)} = ?" for k in self.key)
            for key in wanted:
                self._fetch(db, cursor, condition, list(key))

    def load_in(self, db: Any, cursor: Any, column: str, values: list[Any]) -> None:
        """The rows whose `column` is one of `values` (IN lists of at most 500)."""
        for start in range(0, len(values), 500):
            chunk = values[start : start + 500]
            self._fetch(db, cursor, f"{quoted(column)} IN ({','.join('?' * len(chunk))})",
                        chunk)

    def load_where(self, db: Any, cursor: Any, condition: str, params: list[Any]) -> list[Row]:
        return self._fetch(db, cursor, condition, params)

    def _fetch(self, db: Any, cursor: Any, condition: str, params: list[Any]) -> list[Row]:
        db.execute(cursor, f"SELECT {column_list(self.table)} FROM {self.table} WHERE {condition}",
                   params)
        found = []
        codecs = decoders(self.table, db.dialect)
        for values in cursor.fetchall():
            row = dict(zip(self.columns, decode(codecs, values), strict=True))
            key = tuple(row[k] for k in self.key)
            row["_key"] = key
            found.append(self.rows.setdefault(key, row))
        return found

    def get(self, *key: Any) -> Row | None:
        return self.rows.get(key)

    def put(self, row: Row) -> Row:
        key = self._key_of(row)
        row["_key"] = key  # not a column: lets `touch` skip rebuilding the key
        self.rows[key] = row
        self.dirty.add(key)
        return row

    def touch(self, row: Row) -> None:
        self.dirty.add(row["_key"])

    def flush(self, db: Any, cursor: Any) -> None:
        if self.dirty:
            values, rows = self._values, self.rows
            keys = sorted(self.dirty)
            empty = self._empty(keys)
            if empty:
                db.executemany(cursor, self._delete_statement(), empty)
                gone = set(empty)
                keys = [k for k in keys if k not in gone]
            if keys:
                codecs = encoders(self.table, db.dialect)
                params = [encode(codecs, values(rows[k])) for k in keys]
                db.executemany(cursor, upsert_statement(self.table), params)
        self.dirty.clear()

    def _empty(self, keys: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        column = self.empty_when_zero
        if column is None:
            return []
        return [k for k in keys if self.rows[k][column] == 0]

    def _delete_statement(self) -> str:
        condition = " AND ".join(f"{quoted(k)} = ?" for k in self.key)
        return f"DELETE FROM {self.table} WHERE {condition}"

    def write_out(self, db: Any, cursor: Any, keep: Any = None) -> None:
        """Write every row, in key order, and forget it, except the rows whose key starts
        with `keep` (they stay, unwritten)."""
        rows = self.rows
        kept = {k: row for k, row in rows.items() if k[0] == keep}
        for key in kept:
            del rows[key]
        empty = set(self._empty(list(rows)))
        keys = [k for k in sorted(rows) if k not in empty]
        if keys:
            values, codecs = self._values, encoders(self.table, db.dialect)
            db.executemany(cursor, upsert_statement(self.table),
                           [encode(codecs, values(rows[k])) for k in keys])
        self.rows = kept
        self.dirty = set(kept)

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


def _key_getter(columns: tuple[str, ...]) -> Callable[[Row], tuple[Any, ...]]:
    """A row's key: the values of `columns`, as a tuple even for a single column."""
    if len(columns) == 1:
        column = columns[0]
        return lambda row: (row[column],)
    return itemgetter(*columns)


class BatchRows:
    """The rows a batch of events touches, one `Rows` per read-model table (what must be
    re-derived afterwards is marked in the rows themselves: their `stale` columns).

    With `keep=True` the rows stay after a batch is written (bounded per table), so that
    the next batch of the same projector reads only what it has not seen: the fold's
    columns in them equal the table's as long as no other projector folded in between
    (the runner checks the tracking position and clears them otherwise). Derived columns
    in kept rows may lag the table; every row a fold touches is marked for re-deriving.
    """

    # Rows kept between batches, per table (~1-2 kB each).
    KEEP = {"orders": 20_000, "balances": 20_000, "deposits": 20_000, "refunds": 5_000,
            "provider_stats": 100_000}

    def __init__(self, *, keep: bool = False, count_stats: bool = True) -> None:
        bound = self.KEEP if keep else dict.fromkeys(self.KEEP, 0)
        # False: the folds leave the provider statistics alone (a rebuild sums them from
        # the finished orders table in one statement instead).
        self.count_stats = count_stats
        self.orders = Rows("orders", bound["orders"])
        self.balances = Rows("balances", bound["balances"])
        self.deposits = Rows("deposits", bound["deposits"])
        self.refunds = Rows("refunds", bound["refunds"])
        self.stats = Rows("provider_stats", bound["provider_stats"])
        # The time series (series_folds.py): the periods whose orders changed, and the
        # money flows of the days a batch touches, loaded afresh for every batch.
        self.series_stale = Rows("series_stale")
        self.money = Rows("money_daily", empty_when_zero="count")
        self.deposits_of: set[str] = set()  # accounts whose deposits are all in `deposits`
        self.stats_loaded = False
        self.position: int | None = None  # tracking position the kept rows are valid at

    def _tables(self) -> tuple[Rows, ...]:
        return (self.orders, self.balances, self.deposits, self.refunds, self.stats,
                self.series_stale, self.money)

    def preload(self, db: Any, cursor: Any, keys: dict[str, set[tuple[str]]]) -> None:
        """Load the rows with these keys per table, all deposits of those accounts and
        every provider group, except what is kept already."""
        self.orders.load(db, cursor, keys["orders"])
        self.balances.load(db, cursor, keys["balances"])
        self.refunds.load(db, cursor, keys["refunds"])
        accounts = [k[0] for k in keys["balances"] if k[0] not in self.deposits_of]
        self.deposits.load_in(db, cursor, "account_id", accounts)
        self.deposits_of.update(accounts)
        if not self.stats_loaded:
            self.stats.load_where(db, cursor, "1 = 1", [])
            self.stats_loaded = True

    def flush(self, db: Any, cursor: Any) -> None:
        for rows in self._tables():
            rows.flush(db, cursor)
            if rows.trim() and rows in (self.deposits, self.stats):
                rows.clear()  # all of an account's deposits, or all groups, or none
                self.deposits_of.clear()
                self.stats_loaded = False

    def clear(self) -> None:
        """Forget every kept row: the tables changed under this projector."""
        for rows in self._tables():
            rows.clear()
        self.deposits_of.clear()
        self.stats_loaded = False
        self.position = None
