"""The rebuild reads the log aggregate by aggregate, in one transaction: whatever the page
size, it ends where a catch-up ends, and a failure leaves the old read models in place."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from smsledger.consumers.ingest import ingest_lines
from smsledger.domain.policies import POLICIES
from smsledger.infra.bootstrap import Ledger, bootstrap
from smsledger.infra.settings import Settings
from smsledger.infra.simulation.simulator import config_for_size, simulate_lines
from smsledger.projections import runner
from smsledger.projections.tables import TABLES, select_all_statement
from tests.scenario import Scenario, memory_store_url, run


def every_column(db: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Each table in key order, with the columns no query shows (stale marks, seq)."""
    return {
        table: db.query(select_all_statement(table)) for table in TABLES
    }


@dataclass
class Folded:
    ledger: Ledger
    caught_up: dict[str, list[tuple[Any, ...]]]  # every column, as the catch-up left it


@pytest.fixture(scope="module", params=sorted(POLICIES))
def simulated(request: pytest.FixtureRequest) -> Iterator[Folded]:
    """A simulated day (orders, deposits, refunds, blocked and closed accounts) on one
    store, its read models folded by the incremental catch-up, a few hundred events at a
    time, after every few hundred messages."""
    ledger = bootstrap(Settings(store=memory_store_url(), policy=request.param))
    lines = list(simulate_lines(config_for_size(1500, seed=7)))
    engine = ledger.engine()
    for start in range(0, len(lines), 400):
        ingest_lines(engine, lines[start : start + 400], source="test", batch_size=100)
        runner.catch_up(ledger.opened.database, ledger.opened.recorder.select_stored_after,
                        ledger.clock(), batch_size=300)
    yield Folded(ledger, every_column(ledger.opened.database))
    ledger.close()


@pytest.mark.parametrize("page", [1, 2, 7, 20_000])
def test_a_rebuild_equals_the_catch_up_whatever_the_page_size(
    simulated: Folded, page: int
) -> None:
    ledger, caught_up = simulated.ledger, simulated.caught_up
    db = ledger.opened.database
    assert all(caught_up[table] for table in ("orders", "balances", "deposits", "refunds"))
    last = ledger.opened.recorder.last_notification_id()

    folded = runner.rebuild(db, ledger.opened.recorder, ledger.clock(), batch_size=page)

    assert folded == last  # one event per notification id, all of them
    assert runner.position(db) == last
    assert every_column(db) == caught_up


def test_a_first_catch_up_is_a_rebuild_and_later_ones_fold_what_is_new(
    simulated: Folded,
) -> None:
    """A store whose read models were never folded (position 0) is caught up through the
    rebuild; the same lines folded incrementally above give the same rows."""
    policy = simulated.ledger.policy.name
    other = bootstrap(Settings(store=memory_store_url(), policy=policy))
    try:
        lines = list(simulate_lines(config_for_size(1500, seed=7)))
        ingest_lines(other.engine(), lines, source="test", batch_size=100)
        db = other.opened.database
        assert runner.position(db) == 0
        assert other.catch_up() == other.opened.recorder.last_notification_id()
        assert every_column(db) == simulated.caught_up
        assert other.catch_up() == 0  # nothing new: nothing folded, nothing rebuilt
    finally:
        other.close()


class FailingLog:
    """The store's log, failing when the rebuild asks for its third page."""

    def __init__(self, log: Any) -> None:
        self.log, self.pages = log, 0
        self.datastore = log.datastore

    def last_notification_id(self, cursor: Any = None) -> int:
        return self.log.last_notification_id(cursor)  # type: ignore[no-any-return]

    def select_by_aggregate(self, after: Any, up_to: int, limit: int,
                            cursor: Any = None) -> list[tuple[Any, ...]]:
        self.pages += 1
        if self.pages == 3:
            raise OSError("disk went away")
        return self.log.select_by_aggregate(after, up_to, limit, cursor)  # type: ignore[no-any-return]


def test_a_failed_rebuild_leaves_the_read_models_and_their_position(scenario: Scenario) -> None:
    scenario.account()
    scenario.deposit(1000)
    for number in range(1, 6):
        scenario.order(f"o{number}", 100)
    outcome = run(scenario)
    db = outcome.ledger.opened.database
    before, position = every_column(db), runner.position(db)
    failing = FailingLog(outcome.ledger.opened.recorder)

    with pytest.raises(OSError, match="disk went away"):
        runner.rebuild(db, failing, outcome.ledger.clock(), batch_size=2)

    assert failing.pages == 3  # it had folded and written two pages when it failed
    assert every_column(db) == before
    assert runner.position(db) == position
    outcome.ledger.rebuild()
    assert every_column(db) == before


class SlowLog:
    """The store's log, announcing its first page and taking its time over each."""

    def __init__(self, log: Any) -> None:
        self.log, self.datastore = log, log.datastore
        self.reading = threading.Event()

    def last_notification_id(self, cursor: Any = None) -> int:
        return self.log.last_notification_id(cursor)  # type: ignore[no-any-return]

    def select_by_aggregate(self, after: Any, up_to: int, limit: int,
                            cursor: Any = None) -> list[tuple[Any, ...]]:
        self.reading.set()
        time.sleep(0.02)
        return self.log.select_by_aggregate(after, up_to, limit, cursor)  # type: ignore[no-any-return]


def test_a_catch_up_beside_a_rebuild_waits_and_folds_only_what_came_after(
    tmp_path: Path,
) -> None:
    """One process rebuilds (slowly) while another ingests more and catches up: the
    second waits for the rebuild's lock, then folds from the position it committed."""
    store = f"sqlite:///{tmp_path / 'ledger.db'}"
    lines = list(simulate_lines(config_for_size(1500, seed=11)))
    first, second = lines[:700], lines[700:]
    writer = bootstrap(Settings(store=store, policy="sms-service"))
    rebuilder = bootstrap(Settings(store=store, policy="sms-service"))
    try:
        ingest_lines(writer.engine(), first, source="test")
        writer.catch_up()
        slow = SlowLog(rebuilder.opened.recorder)
        rebuilt: list[int] = []
        thread = threading.Thread(target=lambda: rebuilt.append(runner.rebuild(
            rebuilder.opened.database, slow, rebuilder.clock(), batch_size=50)))
        thread.start()
        assert slow.reading.wait(10)
        ingest_lines(writer.engine(), second, source="test")  # waits for the lock
        folded_after = writer.catch_up()
        thread.join(30)
        assert not thread.is_alive()
        db = writer.opened.database
        last = writer.opened.recorder.last_notification_id()
        assert rebuilt[0] + folded_after == last  # each event folded once
        assert runner.position(db) == last
        live = every_column(db)
        writer.rebuild()
        assert every_column(db) == live
    finally:
        writer.close()
        rebuilder.close()


def test_a_catch_up_of_an_empty_log_folds_nothing_and_rebuilds_nothing() -> None:
    """A poll on a new store must not empty the tables and rebuild their indexes each time."""
    ledger = bootstrap(Settings(store=memory_store_url(), policy="sms-service"))
    try:
        db = ledger.opened.database
        watched = SlowLog(ledger.opened.recorder)
        folded = runner.catch_up(db, ledger.opened.recorder.select_stored_after,
                                 ledger.clock(), log=watched)
        assert folded == 0
        assert not watched.reading.is_set()  # the log was never read aggregate by aggregate
        assert runner.position(db) == 0
        assert all(rows == [] for rows in every_column(db).values())
    finally:
        ledger.close()
