"""Catching the read models up with the event log, or rebuilding them from zero.

Each batch of notifications is folded and written together with the tracking position
in one transaction, so a crash anywhere leaves the tables consistent with the position.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from smsledger.domain.policies import Policy

from .events_view import events_view_statement
from .folding import StoredRow, originator_hex
from .rows import BatchRows
from .schema_docs import comment_statements
from .tables import LAYOUT, TABLES, create_statements, relation_names
from .tracking import TRACKING_NAME, locked_position, track

if TYPE_CHECKING:
    from .rebuild import AggregateOrderedLog

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LedgerClock:
    """What time-dependent columns are computed against: the ledger's event-time clock."""

    now: datetime | None
    policy: Policy


def create_tables(db: Any) -> None:
    """Create the read models' tables, indexes and the `events` view, unless all are there
    in this layout. Every process that opens a store comes here: with all of them there it
    takes no lock, so opening a store never waits for, or deadlocks with, a catch-up or
    rebuild holding the tables. Read models of another layout (an older smsledger's) are
    dropped and made anew, empty, at position 0: the next catch-up refolds them from the
    log, which is all they are made of."""
    missing = db.missing_relations([*relation_names(), "events"])
    old = stored_layout(db, missing)
    if not missing and old == LAYOUT:
        return
    with db.transaction() as cursor:
        db.lock_for_ddl(cursor)  # a second process creating them at once waits
        if old is not None and old != LAYOUT:
            _drop_read_models(db, cursor)
            log.warning("read models of layout %s replaced by layout %s: they are refolded"
                        " from the log", old, LAYOUT)
        for statement in create_statements(db.dialect):
            db.execute(cursor, statement)
        db.execute(cursor, events_view_statement(db.dialect))
        if db.dialect == "postgres":
            for statement in comment_statements():
                db.execute(cursor, statement)
        db.execute(cursor, "INSERT INTO read_model_layout VALUES (1, ?) ON CONFLICT (id)"
                   " DO UPDATE SET version = excluded.version", (LAYOUT,))
        db.execute(
            cursor,
            "INSERT INTO projection_tracking VALUES (?, 0) ON CONFLICT (name) DO NOTHING",
            (TRACKING_NAME,),
        )
        renewed = old is not None and old != LAYOUT
        if (renewed or missing.intersection(TABLES)) and locked_position(db, cursor) > 0:
            _forget_read_models(db, cursor)


def stored_layout(db: Any, missing: set[str]) -> int | None:
    """The layout of the store's read models (`missing`: the relations it lacks); None
    where it has none yet."""
    if "read_model_layout" in missing:
        # Tables from before the layout was recorded are layout 1.
        return 1 if "orders" not in missing else None
    rows = db.query("SELECT version FROM read_model_layout WHERE id = 1")
    return int(rows[0][0]) if rows else None


def _drop_read_models(db: Any, cursor: Any) -> None:
    db.execute(cursor, "DROP VIEW IF EXISTS events")
    for table in (*TABLES, "derived_under"):
        db.execute(cursor, f"DROP TABLE IF EXISTS {table}")


def _forget_read_models(db: Any, cursor: Any) -> None:
    """A read model new to a store folded before it existed would miss the events folded
    already: empty them all and go back to position 0, where the next catch-up rebuilds."""
    for table in TABLES:
        db.execute(cursor, f"DELETE FROM {table}")
    track(db, cursor, 0)


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
    log: AggregateOrderedLog | None = None,
    derive: bool = True,
) -> int:
    """Fold every event after the tracking position; returns how many were folded.

    `read(position, limit)` returns stored events after `position` as tuples of
    (notification id, originator id hex, originator version, topic, JSON state);
    `decode` turns a state into a dict with timestamps as RFC 3339 strings. `rows` may be
    kept by the caller from one catch-up to the next (see `BatchRows`). With the `log`
    readable by aggregate, a first catch-up over a log that has events (nothing folded
    yet: empty read models) is done as a rebuild, which gets to the same rows faster.
    Without `derive` the columns derived across rows are left to a later catch-up (the
    rows they depend on stay marked stale, see `refresh_derived`).
    """
    create_tables(db)
    if log is not None and position(db) == 0 and log.last_notification_id() > 0:
        return rebuild(db, log, clock, batch_size=batch_size, progress=progress, rows=rows)
    folded = _fold_all(db, read, rows or BatchRows(keep=True), batch_size, progress, decode)
    if derive:
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
            (originator_hex(r[1]), r[2], r[3], decode(r[4])) for r in stored
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


def _fold(db: Any, rows: BatchRows, events: list[StoredRow], first_after: int,
          last_id: int) -> None:
    """Fold one batch and move the position from `first_after` to `last_id`, atomically;
    if the position is no longer `first_after`, another projector got there first."""
    # The folds import the domain's aggregates: a read of a caught-up store never needs them.
    from .projector import fold, touched_keys
    from .series_folds import preload_series

    if rows.position != first_after:
        rows.clear()  # kept rows are this projector's view at another position
    try:
        with db.transaction() as cursor:
            if locked_position(db, cursor) != first_after:
                raise PositionMoved
            rows.preload(db, cursor, touched_keys(events))
            preload_series(db, cursor, rows, events)
            for event in events:
                fold(rows, event)
            rows.flush(db, cursor)
            track(db, cursor, last_id)
    except BaseException:
        rows.clear()  # changed in memory, rolled back in the tables
        raise
    rows.position = last_id


def refresh_derived(db: Any, clock: LedgerClock) -> None:
    """Columns that depend on many rows or on the clock, for what changed since last time.

    Rows a batch changes are marked stale; this pass re-derives them, so the work is done
    once per catch-up rather than once per batch, and a crash in between leaves the marks.
    It takes the tracking position's lock first, as every fold and rebuild does: two
    writers that locked rows of several tables in different orders would deadlock
    (PostgreSQL), e.g. a fold writing balances then statistics, a refresh the reverse.
    """
    # Imported here: the derived columns' rules (policy decisions, statistics) are not
    # needed by a command that only opens the store, such as `history`.
    from .derived import derived_is_current, refresh_with

    if derived_is_current(db, clock, position(db)):
        return
    with db.transaction() as cursor:
        refresh_with(db, cursor, clock, position=locked_position(db, cursor))


def rebuild(
    db: Any, log: AggregateOrderedLog, clock: LedgerClock, *, batch_size: int = 20_000,
    progress: Callable[[int], None] | None = None, rows: BatchRows | None = None,
) -> int:
    """Empty the read models and fold the whole log again, in one transaction (see
    `rebuild.rebuild_all`); `rows` kept by a catch-up are forgotten."""
    from .rebuild import rebuild_all

    create_tables(db)
    if rows is not None:
        rows.clear()
    return rebuild_all(db, log, clock, batch_size=batch_size, progress=progress)
