"""Two projectors on one store never fold the same events twice."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from smsledger.consumers.ingest import ingest_lines
from smsledger.infra.bootstrap import bootstrap
from smsledger.infra.settings import Settings
from smsledger.projections import runner
from smsledger.projections.queries import run_query
from smsledger.projections.rows import BatchRows
from tests.scenario import Scenario, run


def test_a_batch_whose_position_moved_is_dropped_not_folded_twice(scenario: Scenario) -> None:
    scenario.account()
    scenario.deposit(1000)
    scenario.order("o1", 100)
    outcome = run(scenario)  # caught up: the position is past every event
    ledger, db = outcome.ledger, outcome.ledger.opened.database
    before = run_query(db, "balances")
    stored = ledger.opened.recorder.select_stored_after(0, 100)
    events = [(r[1] if isinstance(r[1], str) else r[1].hex, r[2], r[3], orjson.loads(r[4]))
              for r in stored]
    with pytest.raises(runner.PositionMoved):
        # a slower projector, late with the same batch
        runner._fold(db, BatchRows(keep=True), events, 0, stored[-1][0])
    assert run_query(db, "balances") == before
    assert runner.position(db) == stored[-1][0]


def test_rows_kept_between_catch_ups_are_dropped_once_another_projector_folded(
    tmp_path: Path,
) -> None:
    store = f"sqlite:///{tmp_path / 'ledger.db'}"
    scenario = Scenario()
    scenario.account()
    scenario.deposit(1000)
    scenario.order("o1", 100)
    outcome = run(scenario, store=store)  # projector A keeps the rows it folded
    other = bootstrap(Settings(store=store, policy="sms-service"))  # projector B
    scenario.order("o2", 200)
    ingest_lines(other.engine(), scenario.lines()[3:], source="test")
    other.catch_up()  # B folds o2: the balance row A kept no longer matches the table
    scenario.order("o3", 300)
    ingest_lines(other.engine(), scenario.lines()[4:], source="test")
    outcome.ledger.catch_up()  # A folds o3, from the table's row
    assert outcome.balance()["held"] == 600
    folded = run_query(outcome.ledger.opened.database, "balances")
    outcome.ledger.rebuild()
    assert run_query(outcome.ledger.opened.database, "balances") == folded
    other.close()


def test_opening_a_store_whose_read_models_exist_takes_no_write_lock(tmp_path: Path) -> None:
    import sqlite3
    import threading

    path = tmp_path / "held.db"
    ledger = bootstrap(Settings(store=f"sqlite:///{path}"))
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer, mid-transaction
    try:
        done = threading.Event()
        worker = threading.Thread(
            target=lambda: (runner.create_tables(ledger.opened.database), done.set()))
        worker.start()
        worker.join(timeout=5)
        assert done.is_set(), "create_tables waited for the write lock"
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        worker.join()
        ledger.close()


def test_read_models_missing_from_a_store_are_created(tmp_path: Path) -> None:
    path = tmp_path / "partial.db"
    ledger = bootstrap(Settings(store=f"sqlite:///{path}"))
    db = ledger.opened.database
    with db.transaction() as cursor:
        db.execute(cursor, "DROP INDEX orders_by_account")
        db.execute(cursor, "DROP TABLE refunds")
    assert db.missing_relations(["orders_by_account", "refunds", "orders"]) == {
        "orders_by_account", "refunds"}
    runner.create_tables(db)
    assert db.missing_relations(["orders_by_account", "refunds", "orders"]) == set()
    ledger.close()
