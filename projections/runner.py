"""Catching the read models up with the event log, or rebuilding them from zero.

Each batch of notifications is folded and written together with the tracking position
in one transaction, so a crash anywhere leaves the tables consistent with the position.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from smsledger.domain.policies import Policy

from .derived import (
    accounts_crossing_window,
    refresh_deposits,
    refresh_overdue,
    refresh_provider_stats,
)
from .projector import BatchRows, apply_event
from .tables import TABLES, create_statements

TRACKING_NAME = "read_models"


@dataclass(frozen=True)
class LedgerClock:
    """What time-dependent columns are computed against: the ledger's event-time clock."""

    now: datetime | None
    policy: Policy


def create_tables(db: Any) -> None:
    with db.transaction() as cursor:
        for statement in create_statements():
            db.execute(cursor, statement)


def position(db: Any) -> int:
    rows = db.query("SELECT position FROM projection_tracking WHERE name = ?", (TRACKING_NAME,))
    return rows[0][0] if rows else 0


def catch_up(
    db: Any,
    recorder: Any,
    mapper: Any,
    clock: LedgerClock,
    *,
    batch_size: int = 5000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Fold every event after the tracking position; returns how many were folded."""
    create_tables(db)
    start = position(db)
    folded = 0
    while True:
        notifications = recorder.select_notifications(start=start + 1, limit=batch_size)
        if not notifications:
            break
        events = [mapper.to_domain_event(n) for n in notifications]
        start = notifications[-1].id
        _fold(db, events, start, clock, final=False)
        folded += len(events)
        if progress is not None:
            progress(folded)
    if clock.now is not None:
        _fold(db, [], start, clock, final=True)
    return folded


def _fold(db: Any, events: list[Any], last_id: int, clock: LedgerClock, *, final: bool) -> None:
    with db.transaction() as cursor:
        rows = BatchRows()
        rows.preload(db, cursor, events)
        for event in events:
            apply_event(rows, event)
        accounts = set(rows.touched_accounts)
        if final and clock.now is not None:
            accounts.update(accounts_crossing_window(db, cursor, clock.policy, clock.now))
        if clock.now is not None and accounts:
            refresh_deposits(db, cursor, rows, accounts, clock.policy, clock.now)
        rows.flush(db, cursor)
        refresh_provider_stats(db, cursor, rows.touched_groups)
        if final and clock.now is not None:
            refresh_overdue(db, cursor, clock.now)
        db.execute(
            cursor,
            "INSERT INTO projection_tracking VALUES (?, ?) ON CONFLICT (name)"
            " DO UPDATE SET position = excluded.position",
            (TRACKING_NAME, last_id),
        )


def rebuild(
    db: Any, recorder: Any, mapper: Any, clock: LedgerClock, *, batch_size: int = 5000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Empty the read models and fold the whole log again."""
    create_tables(db)
    with db.transaction() as cursor:
        for table in TABLES:
            db.execute(cursor, f"DELETE FROM {table}")
        db.execute(cursor, "DELETE FROM projection_tracking WHERE name = ?", (TRACKING_NAME,))
    return catch_up(db, recorder, mapper, clock, batch_size=batch_size, progress=progress)
