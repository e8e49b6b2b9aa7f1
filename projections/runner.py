"""Catching the read models up with the event log, or rebuilding them from zero.

Each batch of notifications is folded and written together with the tracking position
in one transaction, so a crash anywhere leaves the tables consistent with the position.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from smsledger.domain.policies import Policy

from .derived import (
    accounts_crossing_window,
    refresh_deposits,
    refresh_overdue,
    refresh_provider_stats,
    stale_accounts,
)
from .projector import StoredRow, fold, touched_keys
from .rows import BatchRows
from .tables import TABLES, create_statements, index_names

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
        db.execute(
            cursor,
            "INSERT INTO projection_tracking VALUES (?, 0) ON CONFLICT (name) DO NOTHING",
            (TRACKING_NAME,),
        )


class PositionMoved(Exception):
    """Another process folded these events first; this batch is dropped, not applied twice."""


def position(db: Any) -> int:
    rows = db.query("SELECT position FROM projection_tracking WHERE name = ?", (TRACKING_NAME,))
    return rows[0][0] if rows else 0


def catch_up(
    db: Any,
    read: Callable[[int, int], list[tuple[Any, ...]]],
    clock: LedgerClock,
    *,
    batch_size: int = 20_000,
    progress: Callable[[int], None] | None = None,
    decode: Callable[[bytes], dict[str, Any]] = orjson.loads,
    rows: BatchRows | None = None,
) -> int:
    """Fold every event after the tracking position; returns how many were folded.

    `read(position, limit)` returns stored events after `position` as tuples of
    (notification id, originator id hex, originator version, topic, JSON state);
    `decode` turns a state into a dict with timestamps as RFC 3339 strings. `rows` may be
    kept by the caller from one catch-up to the next (see `BatchRows`).
    """
    create_tables(db)
    folded = _fold_all(db, read, rows or BatchRows(keep=True), batch_size, progress, decode)
    refresh_derived(db, clock)
    return folded


def _fold_all(
    db: Any, read: Callable[[int, int], list[tuple[Any, ...]]], rows: BatchRows,
    batch_size: int, progress: Callable[[int], None] | None,
    decode: Callable[[bytes], dict[str, Any]],
) -> int:
    start = position(db)
    folded = 0
    while True:
        stored = read(start, batch_size)
        if not stored:
            break
        events: list[StoredRow] = [
            (_hex(r[1]), r[2], r[3], decode(r[4])) for r in stored
        ]
        try:
            _fold(db, rows, events, start, stored[-1][0])
        except PositionMoved:
            start = position(db)  # someone else caught up meanwhile: go on from there
            continue
        start = stored[-1][0]
        folded += len(events)
        if progress is not None:
            progress(folded)
    return folded


def _hex(originator: Any) -> str:
    return originator if isinstance(originator, str) else originator.hex


def _fold(db: Any, rows: BatchRows, events: list[StoredRow], first_after: int,
          last_id: int) -> None:
    """Fold one batch and move the position from `first_after` to `last_id`, atomically;
    if the position is no longer `first_after`, another projector got there first."""
    if rows.position != first_after:
        rows.clear()  # kept rows are this projector's view at another position
    try:
        with db.transaction() as cursor:
            lock = " FOR UPDATE" if db.dialect == "postgres" else ""  # SQLite: BEGIN IMMEDIATE
            db.execute(
                cursor, f"SELECT position FROM projection_tracking WHERE name = ?{lock}",
                (TRACKING_NAME,),
            )
            row = cursor.fetchone()
            if (row[0] if row else 0) != first_after:
                raise PositionMoved
            rows.preload(db, cursor, touched_keys(events))
            for event in events:
                fold(rows, event)
            rows.flush(db, cursor)
            _track(db, cursor, last_id)
    except BaseException:
        rows.clear()  # changed in memory, rolled back in the tables
        raise
    rows.position = last_id


def _track(db: Any, cursor: Any, last_id: int) -> None:
    db.execute(
        cursor,
        "INSERT INTO projection_tracking VALUES (?, ?) ON CONFLICT (name)"
        " DO UPDATE SET position = excluded.position",
        (TRACKING_NAME, last_id),
    )


def refresh_derived(db: Any, clock: LedgerClock) -> None:
    """Columns that depend on many rows or on the clock, for what changed since last time.

    Rows a batch changes are marked stale; this pass re-derives them, so the work is done
    once per catch-up rather than once per batch, and a crash in between leaves the marks.
    """
    with db.transaction() as cursor:
        refresh_provider_stats(db, cursor)
        if clock.now is None:
            return
        accounts = set(stale_accounts(db, cursor))
        accounts.update(accounts_crossing_window(db, cursor, clock.policy, clock.now))
        refresh_deposits(db, cursor, sorted(accounts), clock.policy, clock.now)
        refresh_overdue(db, cursor, clock.now)


def rebuild(
    db: Any, read: Callable[[int, int], list[tuple[Any, ...]]], clock: LedgerClock, *,
    batch_size: int = 20_000, progress: Callable[[int], None] | None = None,
    rows: BatchRows | None = None,
) -> int:
    """Empty the read models and fold the whole log again.

    The secondary indexes are dropped first and built once at the end, from sorted
    rows, instead of being updated row by row (a crash in between leaves them to the
    next catch-up, which creates whatever is missing).
    """
    create_tables(db)
    with db.transaction() as cursor:
        for table in TABLES:
            db.execute(cursor, f"DELETE FROM {table}")
        for name in index_names():
            db.execute(cursor, f"DROP INDEX IF EXISTS {name}")
        db.execute(
            cursor, "UPDATE projection_tracking SET position = 0 WHERE name = ?", (TRACKING_NAME,)
        )
    folded = _fold_all(db, read, rows or BatchRows(keep=True), batch_size, progress,
                       orjson.loads)
    create_tables(db)
    refresh_derived(db, clock)
    return folded
