"""The audit's scratch space: a temporary folder with a SQLite file that holds what the
audit must keep of the whole log (the replayed balances, the open holds and orders, a
copy of the live read models) and, beside it, the read models rebuilt from scratch. What
is compared is read back from there in key order and merged, so the audit's memory is a
few pages and SQLite's bounded caches, whatever the size of the log."""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from smsledger.projections.columns import decode, decoders, encode, encoders
from smsledger.projections.tables import quoted

PAGE = 5000
Row = tuple[Any, ...]
CACHE_KIB = 32 * 1024  # SQLite's page cache for the scratch file


class Scratch:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.rebuilt_path = folder / "rebuilt.db"
        self.copied: set[str] = set()  # the live tables copied into `live_<table>`
        self.connection = sqlite3.connect(folder / "audit.db", isolation_level=None)
        # Nothing here must survive a crash: no journal, no syncs.
        for pragma in ("journal_mode=OFF", "synchronous=OFF", f"cache_size=-{CACHE_KIB}"):
            self.connection.execute(f"PRAGMA {pragma}")

    def create(self, table: str, columns: Sequence[str], key: Sequence[str]) -> None:
        """A table whose columns have no type: SQLite keeps every value as it was given
        (a live value of the wrong type is compared as it is, not converted)."""
        self.connection.execute(f"CREATE TABLE {table} ({_names(columns)},"
                                f" PRIMARY KEY ({_names(key)}))")

    def insert(self, table: str, rows: Sequence[Sequence[Any]], *, replace: bool = False) -> None:
        if not rows:
            return
        verb = "INSERT OR REPLACE" if replace else "INSERT"
        marks = ", ".join("?" * len(rows[0]))
        self.connection.execute("BEGIN")
        self.connection.executemany(f"{verb} INTO {table} VALUES ({marks})", rows)
        self.connection.execute("COMMIT")

    def rows(self, sql: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        """The rows of a query as the cursor steps through them."""
        yield from self.connection.execute(sql, tuple(params))

    def count(self, table: str) -> int:
        return int(self.connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

    def attach_rebuilt(self) -> None:
        self.connection.execute("ATTACH DATABASE ? AS rebuilt", (str(self.rebuilt_path),))

    def close(self) -> None:
        self.connection.close()


@contextmanager
def scratch() -> Iterator[Scratch]:
    """A scratch space in the system's temporary folder (TMPDIR), removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="smsledger-audit-") as folder:
        made = Scratch(Path(folder))
        try:
            yield made
        finally:
            made.close()


def _names(names: Sequence[str]) -> str:
    return ", ".join(map(quoted, names))


def pages_by_key(
    database: Any, table: str, names: Sequence[str], key: Sequence[str]
) -> Iterator[list[Row]]:
    """A live table's rows as stored, page by page in key order (a seek in its primary
    key's index per page). Rows with a NULL in their key (SQLite lets a hand-edit write
    one), which no walk by key reaches, come last, to be found different from the
    rebuild."""
    select = f"SELECT {_names(names)} FROM {table}"
    order = f" ORDER BY {_names(key)} LIMIT {PAGE}"
    positions = [list(names).index(k) for k in key]
    rows = database.query(
        f"{select} WHERE {' AND '.join(f'{quoted(k)} IS NOT NULL' for k in key)}{order}")
    read = 0
    while rows:
        yield rows
        read += len(rows)
        last = [rows[-1][i] for i in positions]
        rows = database.query(
            f"{select} WHERE ({_names(key)}) > ({', '.join('?' * len(key))}){order}", last)
    if database.query(f"SELECT COUNT(*) FROM {table}")[0][0] != read:
        yield database.query(
            f"{select} WHERE {' OR '.join(f'{quoted(k)} IS NULL' for k in key)}")


def copy_table(
    database: Any, into: Scratch, table: str, names: Sequence[str], key: Sequence[str]
) -> None:
    """A live table into `live_<table>` of the scratch file, once, its values in SQLite's
    form (a PostgreSQL store returns datetimes, bools and lists)."""
    if table in into.copied:
        return
    into.create(f"live_{table}", names, key)
    decoding, encoding = decoders(table, database.dialect), encoders(table, "sqlite")
    for rows in pages_by_key(database, table, names, key):
        if database.dialect != "sqlite":
            rows = [encode(encoding, decode(decoding, row)) for row in rows]
        into.insert(f"live_{table}", rows)
    into.copied.add(table)


def live_rows(
    database: Any, into: Scratch, table: str, names: Sequence[str], key: Sequence[str]
) -> Iterator[Row]:
    """A live table's rows in SQLite's form and key order, as SQLite orders it: read from
    a SQLite store as they are, copied to the scratch file first from PostgreSQL (which
    orders text by its collation)."""
    if database.dialect == "sqlite":
        for rows in pages_by_key(database, table, names, key):
            yield from rows
        return
    copy_table(database, into, table, names, key)
    yield from into.rows(f"SELECT {_names(names)} FROM live_{table} ORDER BY {_names(key)}")


def sort_key(values: Sequence[Any]) -> tuple[tuple[int, Any], ...]:
    """A key in SQLite's order of values: NULL, numbers, text (by code point, as the
    binary collation orders UTF-8), blobs."""
    return tuple((0, 0) if v is None else (1, v) if isinstance(v, int | float)
                 else (2, v) if isinstance(v, str) else (3, bytes(v)) for v in values)


def merged(
    left: Iterable[Row], right: Iterable[Row], key: Callable[[Row], Sequence[Any]]
) -> Iterator[tuple[Row | None, Row | None]]:
    """The rows of two sequences ordered by `key` (as SQLite orders it), paired by key:
    a key on one side only is paired with None."""
    lefts, rights = iter(left), iter(right)
    a, b = next(lefts, None), next(rights, None)
    while a is not None and b is not None:
        ka, kb = key(a), key(b)
        if ka == kb:  # the common case: no key needs SQLite's order of types
            yield a, b
            a, b = next(lefts, None), next(rights, None)
        elif sort_key(ka) < sort_key(kb):
            yield a, None
            a = next(lefts, None)
        else:
            yield None, b
            b = next(rights, None)
    while a is not None:
        yield a, None
        a = next(lefts, None)
    while b is not None:
        yield None, b
        b = next(rights, None)
