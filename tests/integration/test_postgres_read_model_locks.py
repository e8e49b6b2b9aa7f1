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
            db.execute(cursor, "UPDATE balances SET stale = TRUE")
            db.execute(cursor, "UPDATE provider_stats SET stale = TRUE")
            # as a fold would leave it: the position moved since the last refresh
            db.execute(cursor, "UPDATE derived_under SET position = NULL")
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
        assert db.query("SELECT COUNT(*) FROM balances WHERE stale")[0][0] == 0  # the refresh ran
    finally:
        ledger.close()


def test_opening_a_store_a_writer_holds_takes_no_table_lock(pg_url: str) -> None:
    """The read-model process opens the store while the ingest writes to it. Opening an
    existing store runs no DDL: with the events table locked as a writer locks it, the open
    completes at once (the library's CREATE INDEX IF NOT EXISTS would wait for the lock,
    and, holding locks of its own, deadlock with the writer)."""
    import psycopg

    from smsledger.infra.stores.selection import open_store

    open_store(pg_url).close()  # the store and all its tables
    schema = pg_url.split("schema=", 1)[1]
    writer = psycopg.connect(pg_url.split("?", 1)[0])
    try:
        writer.execute(f'LOCK TABLE "{schema}".smsledger_events IN EXCLUSIVE MODE')
        writer.execute(f'LOCK TABLE "{schema}".processed_messages IN EXCLUSIVE MODE')
        timed = f"{pg_url}&options=-c%20lock_timeout%3D2000"
        opened = open_store(timed)  # a StoreError (lock timeout) if the open locked a table
        try:
            assert opened.store.watermark() is None
        finally:
            opened.close()
    finally:
        writer.rollback()
        writer.close()


def test_opening_a_store_missing_a_table_creates_it(pg_url: str) -> None:
    """The lock-free look is a look: a store short of one journal table gets it on open."""
    from smsledger.infra.stores.selection import open_store

    open_store(pg_url).close()
    schema = pg_url.split("schema=", 1)[1]
    admin = admin_connection()
    try:
        admin.execute(f'DROP TABLE "{schema}".late_messages')
        open_store(pg_url).close()
        found = admin.execute(
            "SELECT COUNT(*) FROM pg_tables WHERE schemaname = %s AND tablename = %s",
            (schema, "late_messages")).fetchone()
        assert found == (1,)
    finally:
        admin.close()
