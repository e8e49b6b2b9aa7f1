"""A read of a caught-up store writes nothing: the derived columns are refreshed only when
the log, the ledger clock or the policy version moved since the last refresh."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from tests.scenario import Scenario, run


def counting_transactions(db: Any) -> list[int]:
    """Count the write transactions the database opens from now on."""
    opened = [0]
    original = db.transaction

    @contextmanager
    def counted() -> Any:
        opened[0] += 1
        with original() as cursor:
            yield cursor

    db.transaction = counted
    return opened


def test_a_second_catch_up_with_nothing_new_opens_no_transaction() -> None:
    scenario = Scenario()
    scenario.account()
    scenario.deposit(1000)
    scenario.send("refund.requested", request="r1", account="a1", reason="other", amount=100)
    outcome = run(scenario)
    db = outcome.ledger.opened.database
    opened = counting_transactions(db)
    assert outcome.ledger.catch_up() == 0
    assert opened[0] == 0
    assert outcome.refund("r1")["overdue"] is False


def test_a_moved_clock_refreshes_what_depends_on_it() -> None:
    scenario = Scenario()
    scenario.account()
    scenario.deposit(1000)
    scenario.send("refund.requested", request="r1", account="a1", reason="other", amount=100,
                  details_provided=True)
    outcome = run(scenario)
    assert outcome.refund("r1")["overdue"] is False
    late = Scenario(start=scenario.start + timedelta(days=60))
    late.send("clock.tick")["id"] = "tick-after-60-days"  # ids of its own
    from smsledger.consumers.ingest import ingest_lines

    ingest_lines(outcome.ledger.engine(), late.lines(), source="test")
    outcome.ledger.catch_up()  # no event was folded: the clock alone moved
    refund = outcome.refund("r1")
    assert (refund["status"], refund["overdue"]) == ("approved", True)
