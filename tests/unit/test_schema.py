"""The read models' schema as analysts meet it in SQLite: documented column by column (the
README equals the declaration), one fixed-width time form, JSON rule lists, indexes on
every per-account view, the `events` view, and a store of the older layout refolded."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import orjson
import pytest

from smsledger.infra.bootstrap import bootstrap
from smsledger.infra.settings import Settings
from smsledger.projections.events_view import EVENTS_TABLE
from smsledger.projections.schema_docs import TABLE_DOCS, schema_markdown
from smsledger.projections.tables import TABLES, kinds_of
from tests.scenario import run
from tests.schema_scenario import schema_scenario

README = Path(__file__).resolve().parents[2] / "README.md"
FIXED_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
PER_ACCOUNT = ("balances", "orders", "deposits", "refunds", "rejections")


def test_every_column_is_documented_and_the_readme_says_the_same() -> None:
    for table, (columns, _) in TABLES.items():
        assert set(TABLE_DOCS[table][1]) == {name for name, _ in columns}, table
    text = README.read_text()
    block = text.split("-->\n", text.count("<!-- schema:"))[1].split("<!-- /schema -->")[0]
    assert "<!-- schema:" in text
    assert block == schema_markdown()


def test_the_library_names_the_events_tables_the_view_reads() -> None:
    from smsledger.infra.stores.selection import POSTGRES_EVENTS_TABLE, SQLITE_EVENTS_TABLE

    assert EVENTS_TABLE == {"sqlite": SQLITE_EVENTS_TABLE, "postgres": POSTGRES_EVENTS_TABLE}


@pytest.fixture
def outcome(tmp_path: Path):  # type: ignore[no-untyped-def]
    return run(schema_scenario(), store=f"sqlite:///{tmp_path / 'schema.db'}")


def test_sqlite_times_have_one_width_and_sort_as_time(outcome) -> None:  # type: ignore[no-untyped-def]
    db = outcome.ledger.opened.database
    for table in TABLES:
        names = [n for (n, _), k in zip(TABLES[table][0], kinds_of(table), strict=True)
                 if k == "TIME"]
        for name in names:
            for (value,) in db.query(f'SELECT "{name}" FROM {table} WHERE "{name}" IS NOT NULL'):
                assert FIXED_TIME.fullmatch(value), (table, name, value)
    (first_sms,) = db.query("SELECT first_sms_at FROM orders WHERE \"order\" = 'o1'")[0]
    assert first_sms == "2026-06-01T10:00:04.250000Z"
    # the query output keeps the RFC 3339 form it always had
    assert outcome.deposit("d1")["at"] == "2026-06-01T10:00:01Z"


def test_rule_lists_are_json_arrays_sql_can_open(outcome) -> None:  # type: ignore[no-untyped-def]
    db = outcome.ledger.opened.database
    rules = db.query("SELECT value FROM refunds, json_each(refunds.rules) WHERE request = 'r1'")
    assert [r[0] for r in rules] == outcome.refund("r1")["rules"]
    assert rules, "the refund decision names its rules"
    blocked = db.query("SELECT blocked_by FROM deposits WHERE deposit = 'd1'")[0][0]
    assert isinstance(orjson.loads(blocked), list)


def test_orders_and_refunds_carry_the_accounts_currency(outcome) -> None:  # type: ignore[no-untyped-def]
    db = outcome.ledger.opened.database
    assert db.query('SELECT DISTINCT currency FROM orders') == [("USD",)]
    assert db.query("SELECT currency FROM refunds") == [("USD",)]


@pytest.mark.parametrize("table", PER_ACCOUNT)
def test_a_per_account_view_reads_through_an_index(outcome, table: str) -> None:  # type: ignore[no-untyped-def]
    db = outcome.ledger.opened.database
    plan = " ".join(str(r) for r in db.query(
        f"EXPLAIN QUERY PLAN SELECT * FROM {table} WHERE account = 'a1'"))
    assert "USING INDEX" in plan or "USING COVERING INDEX" in plan, plan


def test_the_events_view_joins_the_log_to_the_read_models(outcome) -> None:  # type: ignore[no-untyped-def]
    db = outcome.ledger.opened.database
    rows = db.query('SELECT type, at, account, json_extract(data, \'$.price\') FROM events'
                    ' WHERE "order" = \'o1\' ORDER BY position')
    assert [r[0] for r in rows][:3] == ["Order.Requested", "Order.Issued", "Order.SmsReceived"]
    assert {r[2] for r in rows} == {"a1"}
    assert rows[0][3] == 100
    assert rows[2][1] == "2026-06-01T10:00:04.250000Z"
    assert all(FIXED_TIME.fullmatch(r[1]) for r in rows), rows
    accounts = db.query("SELECT DISTINCT account FROM events WHERE type LIKE 'Account.%'")
    assert accounts == [("a1",)]
    refund = db.query("SELECT account FROM events WHERE request = 'r1'")
    assert refund
    assert {r[0] for r in refund} == {"a1"}


def test_a_store_of_the_older_layout_is_refolded_on_open(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    outcome = run(schema_scenario(), store=url)
    before = {name: outcome.query(name) for name in ("balances", "orders", "refunds")}
    db = outcome.ledger.opened.database
    with db.transaction() as cursor:  # what layout 1 looked like: no layout row, order_ref
        db.execute(cursor, "DROP TABLE read_model_layout")
        db.execute(cursor, 'ALTER TABLE orders RENAME COLUMN "order" TO order_ref')
    outcome.ledger.close()
    with caplog.at_level(logging.WARNING):
        ledger = bootstrap(Settings(store=url))
    try:
        assert "layout 1 replaced by layout 2" in caplog.text
        ledger.catch_up()
        from smsledger.projections.queries import run_query

        after = {name: run_query(ledger.opened.database, name) for name in before}
        assert after == before
    finally:
        ledger.close()


def test_the_ledger_clock_is_stored_in_the_same_time_form(outcome) -> None:  # type: ignore[no-untyped-def]
    db = outcome.ledger.opened.database
    (watermark,) = db.query("SELECT watermark FROM ledger_clock")[0]
    assert FIXED_TIME.fullmatch(watermark), watermark
    assert outcome.ledger.opened.store.watermark() is not None
