"""The journal's schema in PostgreSQL: the CLI's column names, `timestamptz` times, `jsonb`
rules, a comment on every column, the same reads as SQLite, and a store of layout 1 migrated
on open (its rows read back the same), after which an open runs no DDL again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from smsledger.infra.bootstrap import bootstrap
from smsledger.infra.settings import Settings
from smsledger.infra.stores.journal_docs import JOURNAL_DOCS
from smsledger.infra.stores.journal_tables import CATALOG_TYPES, JOURNAL, JOURNAL_LAYOUT
from tests.integration.conftest import admin_connection
from tests.journal_layout1 import downgrade_statements
from tests.journal_scenario import journal_reads, journal_store

pytestmark = pytest.mark.postgres

OLD_NAMES = {"message_id", "partition_no", "offset_no"}


def _schema(url: str) -> str:
    return url.split("schema=", 1)[1]


def catalog(url: str) -> dict[tuple[str, str], tuple[str, str | None]]:
    """(table, column) -> (type, comment), of every journal table in the store's schema."""
    admin = admin_connection()
    try:
        rows = admin.execute(
            "SELECT table_name, column_name, data_type,"
            " col_description(format('%%I.%%I', table_schema, table_name)::regclass,"
            " ordinal_position) FROM information_schema.columns"
            " WHERE table_schema = %s AND table_name = ANY(%s)",
            (_schema(url), list(JOURNAL))).fetchall()
    finally:
        admin.close()
    return {(t, c): (kind, comment) for t, c, kind, comment in rows}


def declared() -> dict[tuple[str, str], tuple[str, str | None]]:
    return {(table, name): (CATALOG_TYPES[kind], JOURNAL_DOCS[table][1][name])
            for table, (columns, _) in JOURNAL.items() for name, kind, _ in columns}


def test_columns_have_the_clis_names_their_types_and_comments(pg_url: str) -> None:
    journal_store(pg_url).close()
    found = catalog(pg_url)
    assert found == declared()
    assert found[("rejections", "at")][0] == "timestamp with time zone"
    assert found[("dead_letters", "offset")][0] == "bigint"


def test_the_journal_reads_the_same_as_on_sqlite(pg_url: str, tmp_path: Path) -> None:
    on_postgres = journal_store(pg_url)
    on_sqlite = journal_store(f"sqlite:///{tmp_path / 'same.db'}")
    try:
        assert journal_reads(on_postgres) == journal_reads(on_sqlite)
    finally:
        on_postgres.close()
        on_sqlite.close()


def test_analysts_group_and_open_journal_rows_in_sql(pg_url: str) -> None:
    ledger = journal_store(pg_url)
    db = ledger.opened.database
    try:
        by_hour = db.query("SELECT to_char(date_trunc('hour', at AT TIME ZONE 'UTC'),"
                           " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), count(*) FROM rejections"
                           " GROUP BY 1")
        assert by_hour == [("2026-06-01T10:00:00Z", 2)]
        rules = db.query("SELECT message, jsonb_array_elements_text(rules) FROM rejections")
        assert rules == [("m-000006", "order.sms_received")]
        late = db.query('SELECT "partition", "offset", clock - at FROM late_messages')
        assert [(p, o, str(behind)) for p, o, behind in late] == [(0, 9, "0:25:00")]
    finally:
        ledger.close()


def downgraded_to_layout_1(url: str) -> None:
    admin = admin_connection()
    try:
        with admin.transaction():
            admin.execute(f'SET LOCAL search_path TO "{_schema(url)}"')
            for statement in downgrade_statements("postgres"):
                admin.execute(statement)
    finally:
        admin.close()


def test_a_store_of_layout_1_is_migrated_on_open_and_reads_the_same(pg_url: str) -> None:
    ledger = journal_store(pg_url)
    before = journal_reads(ledger)
    ledger.close()
    downgraded_to_layout_1(pg_url)
    old = catalog(pg_url)
    assert OLD_NAMES <= {column for _, column in old}
    assert old[("rejections", "at")][0] == "text"

    ledger = bootstrap(Settings(store=pg_url, policy="1001sms"))
    try:
        assert journal_reads(ledger) == before
        assert {column: kind for column, (kind, _) in catalog(pg_url).items()} == {
            column: kind for column, (kind, _) in declared().items()}
        assert ledger.opened.database.query("SELECT version FROM journal_layout") == [
            (JOURNAL_LAYOUT,)]
    finally:
        ledger.close()
    opens_without_ddl_beside_a_writer(pg_url)


def opens_without_ddl_beside_a_writer(url: str) -> None:
    """With the journal's tables locked as a writer locks them, the migrated store opens at
    once: nothing is left for its open to alter."""
    from smsledger.infra.stores.selection import open_store

    writer: Any = psycopg.connect(url.split("?", 1)[0])
    try:
        for table in ("processed_messages", "rejections", "dead_letters"):
            writer.execute(f'LOCK TABLE "{_schema(url)}".{table} IN EXCLUSIVE MODE')
        opened = open_store(f"{url}&options=-c%20lock_timeout%3D2000")
        try:
            assert opened.store.watermark() is not None
        finally:
            opened.close()
    finally:
        writer.rollback()
        writer.close()
