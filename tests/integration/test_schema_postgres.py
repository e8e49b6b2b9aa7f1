"""The read models' schema in PostgreSQL: typed columns (timestamptz, boolean, jsonb), a
comment on every column, the `events` view, and the same query output as SQLite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from smsledger.projections.schema_docs import TABLE_DOCS
from smsledger.projections.tables import TABLES
from tests.integration.conftest import admin_connection
from tests.scenario import run
from tests.schema_scenario import schema_scenario

pytestmark = pytest.mark.postgres

TYPE_NAMES = {"TIME": "timestamp with time zone", "BOOL": "boolean", "JSON": "jsonb",
              "TEXT": "text", "BIGINT": "bigint", "DOUBLE PRECISION": "double precision"}
VIEWS = ("balances", "orders", "deposits", "refunds", "stats", "hourly", "daily",
         "daily-money")


def _schema(url: str) -> str:
    return url.split("schema=", 1)[1]


def test_columns_are_typed_and_commented(pg_url: str) -> None:
    run(schema_scenario(), store=pg_url)
    admin = admin_connection()
    try:
        found = admin.execute(
            "SELECT table_name, column_name, data_type,"
            " col_description(format('%%I.%%I', table_schema, table_name)::regclass,"
            " ordinal_position) FROM information_schema.columns WHERE table_schema = %s",
            (_schema(pg_url),)).fetchall()
    finally:
        admin.close()
    columns = {(t, c): (kind, comment) for t, c, kind, comment in found}
    for table, (declared, _) in TABLES.items():
        for name, kind in declared:
            assert columns[(table, name)] == (TYPE_NAMES[kind], TABLE_DOCS[table][1][name])


def test_analyst_sql_reads_times_flags_rules_and_events(pg_url: str) -> None:
    outcome = run(schema_scenario(), store=pg_url)
    db = outcome.ledger.opened.database
    rules = db.query("SELECT jsonb_array_elements_text(rules) FROM refunds"
                     " WHERE request = 'r1'")
    assert [r[0] for r in rules] == outcome.refund("r1")["rules"]
    assert rules
    hours = db.query("SELECT date_trunc('hour', requested_at AT TIME ZONE 'UTC'), count(*)"
                     " FROM orders GROUP BY 1")
    assert [r[1] for r in hours] == [2]
    assert db.query("SELECT count(*) FROM refunds WHERE NOT overdue") == [(1,)]
    events = db.query("SELECT type, (data->>'price')::bigint, account FROM events"
                      " WHERE \"order\" = 'o1' ORDER BY position")
    assert events[0] == ("Order.Requested", 100, "a1")
    assert [e[0] for e in events][:3] == ["Order.Requested", "Order.Issued",
                                          "Order.SmsReceived"]


def test_query_output_is_the_same_as_on_sqlite(pg_url: str, tmp_path: Path) -> None:
    on_postgres = run(schema_scenario(), store=pg_url)
    on_sqlite = run(schema_scenario(), store=f"sqlite:///{tmp_path / 'same.db'}")
    views: dict[str, Any] = {name: on_sqlite.query(name) for name in VIEWS}
    assert {name: on_postgres.query(name) for name in VIEWS} == views
    assert views["refunds"][0]["rules"]


def test_the_ledger_clock_is_a_timestamptz_also_in_an_older_store(pg_url: str) -> None:
    """A store made when the clock was text has its column retyped when it is opened."""
    from smsledger.infra.stores.selection import open_store

    outcome = run(schema_scenario(), store=pg_url)
    clock = outcome.ledger.opened.store.watermark()
    outcome.ledger.close()
    schema = _schema(pg_url)
    admin = admin_connection()
    try:
        admin.execute(f'ALTER TABLE "{schema}".ledger_clock ALTER COLUMN watermark TYPE text'
                      " USING to_char(watermark AT TIME ZONE 'UTC',"
                      " 'YYYY-MM-DD\"T\"HH24:MI:SS+00:00')")
        opened = open_store(pg_url)
        try:
            assert opened.store.watermark() == clock
        finally:
            opened.close()
        kind = admin.execute(
            "SELECT data_type FROM information_schema.columns WHERE table_schema = %s"
            " AND table_name = 'ledger_clock' AND column_name = 'watermark'",
            (schema,)).fetchone()
        assert kind == ("timestamp with time zone",)
    finally:
        admin.close()
