"""What a PostgreSQL store's schema already has, looked up in the catalog without a lock.

Opening a store runs the recorder's CREATE ... IF NOT EXISTS statements only when something
is missing: those statements lock the tables they name even when the tables exist (CREATE
INDEX takes a share lock), so a second process opening a store that a first is writing to
(the read-model process beside an ingest) could deadlock with the writer's transaction."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from smsledger.infra.stores.journal_tables import catalog_columns

# The relation a CREATE TABLE / CREATE [UNIQUE] INDEX ... IF NOT EXISTS statement makes.
_CREATED = re.compile(
    r'CREATE\s+(?:UNIQUE\s+)?(?:TABLE|INDEX)\s+IF\s+NOT\s+EXISTS\s+(?:"?[\w]+"?\.)?"?(\w+)"?',
    re.IGNORECASE,
)


def created_relations(statements: Iterable[str]) -> set[str]:
    """The tables and indexes these statements create."""
    return {m.group(1) for s in statements if (m := _CREATED.match(s.strip()))}


def schema_is_complete(cursor: Any, schema: str, relations: set[str], events_table: str) -> bool:
    """True when `schema` holds every one of `relations`, the events table has its digest
    column and every journal column is there with its type (a journal of an older layout,
    or one written before digests were kept, is not): opening needs no DDL. `cursor`
    yields tuples."""
    cursor.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relname = ANY(%s)", (schema, sorted(relations)))
    if {row[0] for row in cursor.fetchall()} != relations:
        return False
    wanted = catalog_columns()
    tables = sorted({table for table, _ in wanted} | {events_table})
    cursor.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = %s AND table_name = ANY(%s)", (schema, tables))
    found = {(row[0], row[1]): row[2] for row in cursor.fetchall()}
    return (events_table, "digest") in found and all(
        found.get(column) == kind for column, kind in wanted.items())
