"""The same traffic on PostgreSQL as on SQLite: identical read models, idempotent re-ingest,
identical rebuilds, independent schemas, and a clear error when the server is unreachable."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from smsledger.consumers.ingest import ingest_lines
from smsledger.consumers.journal import Batch
from smsledger.infra.simulation.simulator import SimulationConfig, simulate_lines
from smsledger.infra.stores.selection import StoreError, open_store
from tests.integration.conftest import admin_connection
from tests.integration.test_cli_policy_edges import SCENARIO
from tests.scenario import Outcome, Scenario, run

pytestmark = pytest.mark.postgres

VIEWS = ("balances", "orders", "deposits", "refunds", "rejections", "stats")


@pytest.fixture(scope="module")
def lines() -> list[bytes]:
    return list(simulate_lines(SimulationConfig(accounts=40, bad_input_share=0.02)))


def views(outcome: Outcome) -> dict[str, list[dict[str, Any]]]:
    return {name: outcome.query(name) for name in VIEWS}


def dead_letter_reasons(outcome: Outcome) -> list[str]:
    return [row["reason"] for row in outcome.query("dead-letters")]


def journal_counts(outcome: Outcome) -> tuple[Any, ...]:
    database = outcome.ledger.opened.database
    return tuple(
        database.query(f"SELECT COUNT(*) FROM {table}")[0][0]
        for table in ("smsledger_events", "processed_messages", "rejections", "dead_letters")
    )


def test_postgres_read_models_equal_sqlite(tmp_path: Path, pg_url: str, lines: list[bytes]) -> None:
    on_sqlite = run(lines, store=f"sqlite:///{tmp_path / 'ledger.db'}")
    on_postgres = run(lines, store=pg_url)
    try:
        assert on_postgres.counts == on_sqlite.counts
        sqlite_views = views(on_sqlite)
        assert all(sqlite_views[name] for name in VIEWS), "the traffic fills every view"
        assert views(on_postgres) == sqlite_views
        assert dead_letter_reasons(on_sqlite), "bad input yields dead letters"
        assert dead_letter_reasons(on_postgres) == dead_letter_reasons(on_sqlite)
    finally:
        on_sqlite.ledger.close()
        on_postgres.ledger.close()


def test_the_policy_edges_scenario_reads_the_same_on_postgres(tmp_path: Path, pg_url: str) -> None:
    """Issue 13's events (capture reversed, closure refunds, forfeits, extensions, failed
    cancels) on the server store: the same rows as on SQLite, and a rebuild equal to them."""
    on_sqlite = run(SCENARIO, store=f"sqlite:///{tmp_path / 'edges.db'}", cancel_lock=120)
    on_postgres = run(SCENARIO, store=pg_url, cancel_lock=120)
    try:
        expected = views(on_sqlite)
        assert {r["state"] for r in expected["orders"]} == {"refunded", "cancelled", "completed"}
        assert views(on_postgres) == expected
        on_postgres.ledger.rebuild()
        assert views(on_postgres) == expected
    finally:
        on_sqlite.ledger.close()
        on_postgres.ledger.close()


def identified_dead_letters(outcome: Outcome) -> list[dict[str, Any]]:
    return [row for row in outcome.query("dead-letters") if row["message"] is not None]


def test_reingesting_the_same_lines_changes_nothing(pg_url: str, lines: list[bytes]) -> None:
    outcome = run(lines, store=pg_url)
    try:
        before, counted = views(outcome), journal_counts(outcome)
        identified = identified_dead_letters(outcome)
        ingest_lines(outcome.ledger.engine(), lines, source="test", batch_size=100)
        outcome.ledger.catch_up()
        assert journal_counts(outcome)[:3] == counted[:3]
        assert views(outcome) == before
        # Lines without a readable id cannot be recognised, so they are dead-lettered again.
        assert identified_dead_letters(outcome) == identified
    finally:
        outcome.ledger.close()


def test_rebuild_on_postgres_gives_identical_views(pg_url: str, lines: list[bytes]) -> None:
    outcome = run(lines, store=pg_url)
    try:
        before = views(outcome)
        assert outcome.ledger.rebuild() == journal_counts(outcome)[0]
        assert views(outcome) == before
    finally:
        outcome.ledger.close()


def test_a_batch_with_only_journal_rows_is_written(pg_url: str) -> None:
    scenario = Scenario()
    scenario.send("order.completed", order="nobody", account="ghost")  # no events
    outcome = run([*scenario.lines(), b"{not json"], store=pg_url)
    try:
        assert journal_counts(outcome)[0] == 0
        assert len(outcome.query("dead-letters")) + len(outcome.query("rejections")) == 2
    finally:
        outcome.ledger.close()


def test_journal_rows_vanish_with_a_conflicting_event(pg_url: str) -> None:
    opened = open_store(pg_url)
    try:
        event = StoredEvent(uuid.uuid4(), 1, "topic", b"{}")
        opened.recorder.insert_events([event], journal=Batch(processed=[("m-1", "t", "ok", None)]))
        with pytest.raises(IntegrityError):
            opened.recorder.insert_events(
                [event], journal=Batch(processed=[("m-2", "t", "ok", None)])
            )
        rows = opened.database.query("SELECT message FROM processed_messages")
        assert rows == [("m-1",)]
    finally:
        opened.close()


def test_stored_states_and_journal_rows_arrive_byte_for_byte(pg_url: str) -> None:
    """A batch travels as one JSON document: escapes, non-ASCII text and NULLs survive it,
    notification ids follow the batch's order, and a state that is not UTF-8 still goes in."""
    opened = open_store(pg_url)
    try:
        states = [b'{"note":"quote \\" back\\\\slash \\\\u0000 tab\\t"}',
                  '{"name":"Zoë — 東京 🙂"}'.encode(), b"{}"]
        events = [StoredEvent(uuid.uuid4(), 1, f"topic-{i}", state)
                  for i, state in enumerate(states)]
        rejection = ("m-2", "order.requested", "2026-01-01T00:00:00Z", None, "o-1",
                     "insufficient_funds", 'needs "100"', "")
        opened.recorder.insert_events(events, journal=Batch(
            processed=[("m-1", "t", "applied", None), ("m-2", "t", "rejected", "why ü")],
            rejections=[rejection]))
        opened.recorder.insert_events([StoredEvent(uuid.uuid4(), 1, "binary", b"\xff\x00")])
        opened.recorder.insert_events([StoredEvent(uuid.uuid4(), 1, "nul", b"a\x00b")])
        stored = opened.recorder.select_stored_after(0, 10)
        assert [(r[3], bytes(r[4])) for r in stored] == [
            *((f"topic-{i}", state) for i, state in enumerate(states)),
            ("binary", b"\xff\x00"), ("nul", b"a\x00b")]
        assert [r[1] for r in stored[:3]] == [e.originator_id for e in events]
        assert opened.database.query(
            "SELECT message, reason FROM processed_messages ORDER BY message"
        ) == [("m-1", None), ("m-2", "why ü")]
        # the time a timestamptz, the engine's comma-separated rules a JSON array
        at = datetime(2026, 1, 1, tzinfo=UTC)
        assert [(*r[:2], r[2].astimezone(UTC), *r[3:]) for r in opened.database.query(
            "SELECT * FROM rejections")] == [(*rejection[:2], at, *rejection[3:7], [])]
    finally:
        opened.close()


def test_two_schemas_are_independent_stores(pg_schemas: Any) -> None:
    first, second = Scenario(), Scenario()
    first.account("a1")
    first.deposit(500, account="a1")
    second.account("b1")
    second.deposit(700, account="b1")
    url_a, url_b = pg_schemas(), pg_schemas()
    one, two = run(first, store=url_a), run(second, store=url_b)
    try:
        assert [(r["account"], r["deposited"]) for r in one.query("balances")] == [("a1", 500)]
        assert [(r["account"], r["deposited"]) for r in two.query("balances")] == [("b1", 700)]
        assert journal_counts(one)[1] == journal_counts(two)[1] == 2
    finally:
        one.ledger.close()
        two.ledger.close()


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("postgresql://postgres@127.0.0.1:1/test", "127.0.0.1:1/test"),
        ("postgresql://postgres@127.0.0.1:5432/no_such_db_here", "127.0.0.1:5432/no_such_db_here"),
    ],
)
def test_unreachable_store_raises_a_one_line_store_error(url: str, named: str) -> None:
    admin_connection().close()  # the refused port must be the URL's fault, not the server's
    with pytest.raises(StoreError) as raised:
        open_store(url)
    message = str(raised.value)
    assert named in message
    assert "\n" not in message
    assert message.startswith("cannot connect to PostgreSQL")


def test_processes_opening_a_new_store_at_once_all_open_it(pg_url: str) -> None:
    """Creating the schema and tables is serialised: no creator fails in the catalog."""
    import subprocess
    import sys

    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "smsledger.infra.cli", "ingest", "-", "--json",
             "--store", pg_url],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        for _ in range(6)
    ]
    outcomes = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in processes]
    assert [code for code, _, _ in outcomes] == [0] * 6, [err for _, _, err in outcomes]
    assert {orjson.loads(out)["applied"] for _, out, _ in outcomes} == {0}
