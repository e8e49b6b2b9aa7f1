"""Bringing a journal of an older layout (an older smsledger's store) to `JOURNAL_LAYOUT`, in
place: its columns renamed to the CLI's names, its times and rule lists in the typed forms.

Runs under the store's DDL lock (SQLite's write lock, PostgreSQL's advisory lock) and in
one transaction per step, so a store is migrated once, completely or not at all."""

from __future__ import annotations

from typing import Any

import orjson

from smsledger.infra.stores.journal_sql import sqlite_time
from smsledger.infra.stores.journal_tables import (
    CATALOG_TYPES,
    JOURNAL,
    JOURNAL_LAYOUT,
    time_columns,
)
from smsledger.projections.tables import quoted

# Layout 1's names of the columns that now carry the CLI's.
OLD_NAMES = {"message": "message_id", "partition": "partition_no", "offset": "offset_no"}
# Layout 1's index on the dead letters' message ids (now `dead_letters_by_message`).
OLD_INDEX = "dead_letters_message_id"
# How a layout-1 text column becomes its typed one in PostgreSQL (the only JSON column,
# `rejections.rules`, held the rule ids comma-separated).
_USING = {"TIME": "{0}::timestamptz", "JSON": "to_jsonb(string_to_array({0}, ','))"}
RECORD_LAYOUT = (f"INSERT INTO journal_layout VALUES (1, {JOURNAL_LAYOUT}) ON CONFLICT (id)"
                 " DO UPDATE SET version = excluded.version")
# SQLite's fixed-width time text, as a GLOB: rows already in it are left alone.
FIXED_GLOB = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]." + (
    "[0-9]" * 6) + "Z"


def stored_layout(columns: dict[str, set[str]], recorded: int | None) -> int | None:
    """The journal's layout: the one recorded, else 1 where journal tables exist from
    before layouts were recorded, else None (a new store). `columns`: table -> its columns."""
    if recorded is not None:
        return recorded
    return 1 if "processed_messages" in columns else None


def rename_statements(columns: dict[str, set[str]]) -> list[str]:
    """ALTER TABLE ... RENAME COLUMN for each layout-1 name in these tables (SQLite 3.25+
    and PostgreSQL alike; indexes follow their columns), and the old index dropped."""
    statements = []
    for table, (declared, _) in JOURNAL.items():
        found = columns.get(table, set())
        statements += [f"ALTER TABLE {table} RENAME COLUMN {OLD_NAMES[name]} TO {quoted(name)}"
                       for name, _, _ in declared
                       if name in OLD_NAMES and OLD_NAMES[name] in found and name not in found]
    if statements:
        statements.append(f"DROP INDEX IF EXISTS {OLD_INDEX}")
    return statements


def retype_statements(types: dict[tuple[str, str], str]) -> list[str]:
    """ALTER TABLE ... TYPE for each PostgreSQL journal column still of layout 1's text
    (`types`: (table, column) -> catalog type, of the columns the schema has)."""
    statements = []
    for table, (declared, _) in JOURNAL.items():
        for name, kind, _ in declared:
            found = types.get((table, name))
            if kind in _USING and found == "text":
                column = quoted(name)
                statements.append(
                    f"ALTER TABLE {table} ALTER COLUMN {column} TYPE {CATALOG_TYPES[kind]}"
                    f" USING {_USING[kind].format(column)}")
    return statements


def sqlite_columns(cursor: Any) -> dict[str, set[str]]:
    """The journal tables an SQLite store has, with their columns."""
    cursor.execute("SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p"
                   " WHERE m.type = 'table'")
    found: dict[str, set[str]] = {}
    for table, column in cursor.fetchall():
        if table in JOURNAL:
            found.setdefault(table, set()).add(column)
    return found


def recorded_layout(cursor: Any, columns: dict[str, set[str]]) -> int | None:
    if "journal_layout" not in columns:
        return None
    cursor.execute("SELECT version FROM journal_layout WHERE id = 1")
    row = cursor.fetchone()
    return None if row is None else int(row[0])


def migrate_sqlite(cursor: Any) -> int | None:
    """Bring an SQLite journal of layout 1 to this layout, before its CREATE statements run
    (they index the new names); returns the layout it found (None: a new store)."""
    columns = sqlite_columns(cursor)
    found = stored_layout(columns, recorded_layout(cursor, columns))
    if found is None or found == JOURNAL_LAYOUT:
        return found
    for statement in rename_statements(columns):
        cursor.execute(statement)
    for table, column in time_columns():
        if table in columns:
            _rewrite_times(cursor, table, quoted(column))
    if "rejections" in columns:
        cursor.execute("SELECT rowid, rules FROM rejections WHERE rules NOT LIKE '[%'")
        cursor.executemany("UPDATE rejections SET rules = ? WHERE rowid = ?", [
            (orjson.dumps([r for r in (rules or "").split(",") if r]).decode(), rowid)
            for rowid, rules in cursor.fetchall()])
    return found


def _rewrite_times(cursor: Any, table: str, column: str) -> None:
    """Layout 1's time texts (`…Z` of two widths, `isoformat`'s `+00:00`) in the
    fixed-width form, where they are not in it already."""
    cursor.execute(f"SELECT rowid, {column} FROM {table}"
                   f" WHERE {column} IS NOT NULL AND {column} NOT GLOB ?", (FIXED_GLOB,))
    cursor.executemany(f"UPDATE {table} SET {column} = ? WHERE rowid = ?",
                       [(sqlite_time(value), rowid) for rowid, value in cursor.fetchall()])


