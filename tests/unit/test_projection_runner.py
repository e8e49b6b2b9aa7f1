"""Two projectors on one store never fold the same events twice."""

from __future__ import annotations

import orjson
import pytest

from smsledger.projections import runner
from smsledger.projections.queries import run_query
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
        runner._fold(db, events, 0, stored[-1][0])  # a slower projector, late with the same batch
    assert run_query(db, "balances") == before
    assert runner.position(db) == stored[-1][0]
