"""The audit reads the log aggregate by aggregate and keeps one aggregate at a time: what it
needs of the others lives in a scratch file it removes afterwards. Walking in key order, it
still names an event out of place as a walk in log order would."""

from __future__ import annotations

import tempfile
import weakref
from pathlib import Path
from typing import Any

import pytest

from smsledger.domain.account import Account
from smsledger.domain.order import Order
from smsledger.infra.audit.replay import AuditReport, audit, replay
from smsledger.infra.bootstrap import Ledger
from smsledger.infra.simulation.simulator import SimulationConfig, simulate_lines
from tests.scenario import run

LINES = list(simulate_lines(SimulationConfig(accounts=30, days=1.0, seed=5)))


@pytest.fixture
def ledger() -> Any:
    outcome = run(LINES, batch_size=200)
    yield outcome.ledger
    outcome.ledger.close()


def _sql(ledger: Ledger, statement: str, params: tuple[Any, ...] = ()) -> None:
    database = ledger.opened.database
    with database.transaction() as cursor:
        database.execute(cursor, statement, params)


def test_the_replay_keeps_no_aggregate_once_the_next_one_is_read(ledger: Ledger) -> None:
    alive: list[weakref.ref[Any]] = []
    most = 0

    def take(aggregate: Any) -> None:
        nonlocal most
        alive.append(weakref.ref(aggregate))
        most = max(most, sum(ref() is not None for ref in alive))

    report = AuditReport()
    replay(ledger, report, take, ledger.opened.recorder.last_notification_id())
    stored = ledger.opened.database.query(
        "SELECT COUNT(DISTINCT originator_id) FROM stored_events")[0][0]
    assert len(alive) == stored > 100
    assert {type(ref()) for ref in alive} == {type(None)}
    assert most == 1, f"{most} aggregates alive at once"
    assert report.problems == []


def test_the_audit_of_many_aggregates_counts_them_all_and_leaves_no_scratch_file(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    report = audit(ledger)
    assert report.clean, report.problems
    replayed: dict[type, int] = {Account: 0, Order: 0}
    replay(ledger, AuditReport(), lambda a: replayed.__setitem__(
        type(a), replayed.get(type(a), 0) + 1), report.events)
    assert (report.accounts, report.orders) == (replayed[Account], replayed[Order])
    assert report.accounts == len(ledger.opened.database.query("SELECT id FROM balances"))
    assert list(tmp_path.iterdir()) == []


def _aggregate_with_three_events(ledger: Ledger) -> str:
    return str(ledger.opened.database.query(
        "SELECT originator_id FROM stored_events WHERE topic LIKE '%Order.%'"
        " GROUP BY originator_id HAVING COUNT(*) >= 3 ORDER BY originator_id LIMIT 1")[0][0])


def test_versions_swapped_in_place_are_named_as_the_log_order_shows_them(
    ledger: Ledger
) -> None:
    # In key order the versions still run 1, 2, 3; only their positions give the swap away.
    originator = _aggregate_with_three_events(ledger)
    for old, new in ((2, -2), (3, 2), (-2, 3)):
        _sql(ledger, "UPDATE stored_events SET originator_version = ? WHERE originator_id = ?"
             " AND originator_version = ?", (new, originator, old))
    report = audit(ledger)
    named = [p for p in report.problems if "follows" in p]
    assert len(named) == 1
    assert named[0].startswith("order ")
    assert named[0].endswith(": version 3 follows version 1: version 2 missing (events"
                             " removed, or versions renumbered)")
    assert [str(u.hex) for u in report.unreadable] == [originator]


def test_an_unreadable_event_leaves_its_aggregate_out_and_the_others_in(ledger: Ledger) -> None:
    before = audit(ledger)
    originator = _aggregate_with_three_events(ledger)
    position = ledger.opened.database.query(
        "SELECT rowid FROM stored_events WHERE originator_id = ? AND originator_version = 2",
        (originator,))[0][0]
    _sql(ledger, "UPDATE stored_events SET state = ? WHERE rowid = ?", (b"not json", position))
    report = audit(ledger)
    assert sum(f"event at position {position} cannot be read" in p
               for p in report.problems) == 1
    assert [u.hex for u in report.unreadable] == [originator]
    assert report.orders == before.orders - 1
    assert report.accounts == before.accounts


def test_a_merge_of_live_and_rebuilt_rows_counts_and_names_the_first_difference(
    ledger: Ledger
) -> None:
    rows = ledger.opened.database.query("SELECT id, charged FROM orders ORDER BY id")
    _sql(ledger, "DELETE FROM orders WHERE id IN (?, ?)", (rows[3][0], rows[9][0]))
    report = audit(ledger)
    assert (f"projection orders: {len(rows) - 2} rows live, {len(rows)} rebuilt, 2 differ;"
            f" row {rows[3][0]} is missing from the live table") in report.problems
    _sql(ledger, "UPDATE orders SET charged = charged + 1 WHERE id IN (?, ?)",
         (rows[7][0], rows[12][0]))
    report = audit(ledger)
    assert (f"projection orders: {len(rows) - 2} rows live, {len(rows)} rebuilt, 4 differ;"
            f" row {rows[7][0]}: charged {rows[7][1] + 1} (rebuilt {rows[7][1]})"
            ) in report.problems


def test_a_row_with_a_null_key_is_counted_and_the_rebuild_reads_it_as_before(
    ledger: Ledger
) -> None:
    # The walk by key cannot reach such a row; the rebuild's own read of the log does.
    rows = ledger.opened.database.query("SELECT COUNT(*) FROM stored_events")[0][0]
    _sql(ledger, "UPDATE stored_events SET originator_id = NULL WHERE rowid = 5")
    report = audit(ledger)
    assert report.events == rows
    assert any(p.startswith("position 5: its columns are not an event's (originator None")
               for p in report.problems)
    assert any(p.startswith("projections: the read models cannot be rebuilt from this log")
               for p in report.problems)
