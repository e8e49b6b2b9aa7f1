"""Writers of the read models on one PostgreSQL schema take the tracking row's lock before
any row: a fold and a refresh of derived columns in two processes never deadlock."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from smsledger.projections import runner
from smsledger.projections.tracking import locked_position
from tests.integration.conftest import admin_connection
from tests.scenario import Scenario, run

pytestmark = pytest.mark.postgres


def a_store_with_stats(pg_url: str) -> Any:
    scenario = Scenario()
    scenario.account()
    scenario.deposit(500)
    scenario.order("o1", 100)
    scenario.issue("o1")
    scenario.sms("o1")
    return run(scenario, store=pg_url).ledger


def wait_until_blocked_by(holder: int, deadline: float = 20.0) -> None:
    """Until another backend waits for a lock the backend `holder` holds."""
    admin = admin_connection()
    try:
        until = time.monotonic() + deadline
        while time.monotonic() < until:
            waiting = admin.execute(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
                (holder,)).fetchone()
            if waiting and waiting[0] > 0:
                return
            time.sleep(0.02)
    finally:
        admin.close()
    raise AssertionError("the second writer never waited for a lock")


def test_a_fold_and_a_derived_refresh_at_once_do_not_deadlock(pg_url: str) -> None:
    """The fold writes balances before provider statistics; the refresh of derived columns
    writes provider statistics first. Without one lock taken first by both, each waits
    for the other's row (PostgreSQL then kills one of them: a dead read-model process)."""
    ledger = a_store_with_stats(pg_url)
    db = ledger.opened.database
    try:
        account_id = db.query("SELECT id FROM balances")[0][0]
        with db.transaction() as cursor:  # both rows marked for the refresh
            db.execute(cursor, "UPDATE balances SET stale = 1")
            db.execute(cursor, "UPDATE provider_stats SET stale = 1")
        errors: list[BaseException] = []
        refresh_started = threading.Event()

        def refresh() -> None:
            refresh_started.set()
            try:
                runner.refresh_derived(db, ledger.clock())
            except BaseException as error:  # reported by the assertion
                errors.append(error)

        second = threading.Thread(target=refresh)
        try:
            with db.transaction() as cursor:  # a fold: position, balances, then statistics
                locked_position(db, cursor)
                db.execute(cursor, "SELECT pg_backend_pid()")
                holder = cursor.fetchone()[0]
                db.execute(cursor, "UPDATE balances SET held = held WHERE id = ?", (account_id,))
                second.start()
                refresh_started.wait()
                wait_until_blocked_by(holder)
                db.execute(cursor, "UPDATE provider_stats SET orders = orders")
        except BaseException as error:
            errors.append(error)
        second.join(timeout=30)
        assert not second.is_alive()
        assert errors == []
        assert db.query("SELECT SUM(stale) FROM balances")[0][0] == 0  # the refresh ran
    finally:
        ledger.close()
