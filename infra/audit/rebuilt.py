"""The audit's comparison of the read models with a rebuild from scratch: the rebuild goes
into a SQLite file of the scratch space, the live tables are copied beside it, and each
pair of tables is merged row by row in key order, keeping only counts and the first
difference."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eventsourcing.sqlite import SQLiteConnection, SQLiteConnectionPool, SQLiteDatastore

from smsledger.infra.audit.scratch import Row, Scratch, live_rows, merged
from smsledger.infra.stores.sqlite_database import SQLiteDatabase
from smsledger.projections import runner
from smsledger.projections.columns import decode, decoders
from smsledger.projections.tables import TABLES, column_list, quoted


class _ScratchPool(SQLiteConnectionPool):
    """Connections to the rebuild's scratch file, which need not survive a crash: no syncs,
    and the rollback journal in memory (it holds only the pages the empty file had, not
    the new ones a rebuild appends). In WAL mode each page would be written twice."""

    def _create_connection(self) -> SQLiteConnection:
        connection = super()._create_connection()
        for pragma in ("journal_mode=MEMORY", "synchronous=OFF"):
            connection._sqlite_conn.execute(f"PRAGMA {pragma}")
        return connection


def rebuild(log: Any, clock: Any, into: Scratch) -> str | None:
    """The read models folded again from the whole log, into the scratch space's rebuild
    file; what went wrong, if they cannot be."""
    datastore = SQLiteDatastore(str(into.rebuilt_path))
    datastore.pool = _ScratchPool(db_name=str(into.rebuilt_path))  # has opened nothing yet
    scratch = SQLiteDatabase(datastore)
    try:
        runner.rebuild(scratch, log, clock)
    except Exception as error:  # folds of an altered log may fail anywhere: report it
        return (f"projections: the read models cannot be rebuilt from this log"
                f" ({type(error).__name__}: {error})")
    finally:
        scratch.datastore.close()
    into.attach_rebuilt()
    return None


def compare_tables(database: Any, into: Scratch) -> list[str]:
    """Every live read model against its rebuild (attached as `rebuilt`), both read in
    SQLite's form and compared in the folds' form, as the queries show them."""
    problems = []
    for table, (columns, key) in TABLES.items():
        names = [c for c, _ in columns]
        rebuilt_rows = into.rows(
            f"SELECT {column_list(table)} FROM rebuilt.{table}"
            f" ORDER BY {', '.join(map(quoted, key))}")
        positions = [names.index(k) for k in key]
        codecs = decoders(table, "sqlite")
        difference = _Difference(names, positions)
        for live, rebuilt in merged(live_rows(database, into, table, names, key),
                                    rebuilt_rows, key=lambda row: [row[i] for i in positions]):
            difference.add(None if live is None else decode(codecs, live),
                           None if rebuilt is None else decode(codecs, rebuilt))
        if difference.differing or difference.missing:
            problems.append(difference.message(table))
    return problems


@dataclass
class _Difference:
    """What a merge of a live table with its rebuild found: counts and the first rows."""

    names: list[str]
    positions: list[int]
    live: int = 0
    rebuilt: int = 0
    differing: int = 0  # live rows not in the rebuild or not equal to their rebuilt row
    missing: int = 0  # rebuilt rows whose key is not in the live table
    first: tuple[Row, Row | None] | None = None
    first_missing: Row | None = None

    def add(self, live: Row | None, rebuilt: Row | None) -> None:
        self.live += live is not None
        self.rebuilt += rebuilt is not None
        if live is None:
            self.missing += 1
            self.first_missing = self.first_missing or rebuilt
        elif live != rebuilt:
            self.differing += 1
            self.first = self.first or (live, rebuilt)

    def message(self, table: str) -> str:
        detail = ""
        if self.first is not None:
            row, other = self.first
            where = "/".join(str(row[i]) for i in self.positions)
            if other is None:
                detail = f"; row {where} is not in the rebuild"
            else:
                columns = [f"{n} {a!r} (rebuilt {b!r})"
                           for n, a, b in zip(self.names, row, other, strict=True) if a != b]
                detail = f"; row {where}: {', '.join(columns[:3])}"
        elif self.first_missing is not None:
            where = "/".join(str(self.first_missing[i]) for i in self.positions)
            detail = f"; row {where} is missing from the live table"
        return (f"projection {table}: {self.live} rows live, {self.rebuilt} rebuilt,"
                f" {self.differing + self.missing} differ{detail}")
