"""Rebuilding the read models from the whole log: aggregate by aggregate, in one transaction.

Every row of the read models belongs to one aggregate (an order, an account with its
deposits, a refund request); only the provider statistics sum over many orders, and the
rebuild sums them from the finished orders table in one statement at the end. So it reads
the log in (aggregate, version) order, folds each aggregate's events completely with the
same folds as a catch-up, derives the account's refundability while its rows are still
in memory, and writes every row once, into emptied tables, without reading any of them
back. An aggregate whose events straddle two pages of the log stays in memory until its
last event has been folded.

It all happens in one transaction: readers see the old read models until the new ones
are complete, a failure leaves the old ones and their position as they were, and a
catch-up in another process waits for the lock and then goes on from the position the
rebuild committed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from .derived import derive_account, refresh_with, sum_provider_stats
from .folding import originator_hex
from .projector import fold_page
from .rows import BatchRows
from .series_derived import SeriesSums, write_series
from .tables import INDEXES, TABLES, index_names
from .tracking import locked_position, track


class AggregateOrderedLog(Protocol):
    """The stored events, read in (originator id, originator version) order."""

    def last_notification_id(self, cursor: Any | None = None) -> int: ...

    def select_by_aggregate(
        self, after: tuple[Any, int] | None, up_to: int, limit: int, cursor: Any | None = None
    ) -> list[tuple[Any, ...]]:
        """(originator id, version, topic, state) of the events with notification ids up
        to `up_to` that come after the key `after`, at most `limit` of them."""
        ...


def rebuild_all(
    db: Any, log: AggregateOrderedLog, clock: Any, *, batch_size: int = 20_000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Empty the read models, fold every event up to the log's last one, build the
    indexes and derived columns and move the position there: one transaction. Returns
    how many events were folded."""
    # The log is read on this transaction's own connection when it lives in the same
    # database (an in-memory database admits no reader beside a writer), else on its own.
    shared = getattr(log, "datastore", None) is db.datastore
    with db.transaction() as cursor:
        locked_position(db, cursor)  # a catch-up elsewhere waits, then finds it moved
        own = cursor if shared else None
        for table in TABLES:
            db.execute(cursor, f"DELETE FROM {table}")
        for name in index_names():  # built once at the end, from sorted rows
            db.execute(cursor, f"DROP INDEX IF EXISTS {name}")
        last = log.last_notification_id(own)
        writer = _Writer(db, cursor, clock)
        folded, after = 0, None
        while True:
            page = log.select_by_aggregate(after, last, batch_size, own)
            if not page:
                break
            fold_page(writer.rows, page)
            after = (page[-1][4], page[-1][1])  # (walk key, version)
            writer.write_completed(unfinished=originator_hex(page[-1][0]))
            folded += len(page)
            if progress is not None:
                progress(folded)
        writer.write_completed(unfinished=None)
        sum_provider_stats(db, cursor)  # one scan of the orders, before their indexes exist
        write_series(db, cursor, writer.rows, writer.series)
        for statement in INDEXES:
            db.execute(cursor, statement)
        # Their rates and medians; the accounts were derived as they were written.
        refresh_with(db, cursor, clock, accounts_derived=True, position=last)
        track(db, cursor, last)
    return folded


class _Writer:
    """The rows of the aggregates folded so far and not yet written."""

    def __init__(self, db: Any, cursor: Any, clock: Any) -> None:
        self.db, self.cursor, self.clock = db, cursor, clock
        self.rows = BatchRows(count_stats=False)
        self.series = SeriesSums()

    def write_completed(self, unfinished: str | None) -> None:
        """Write the rows of every aggregate except `unfinished`, whose next events may
        be on the next page."""
        rows = self.rows
        if self.clock.now is not None:
            self._derive(unfinished)
        self.series.add(rows.orders.rows, keep=unfinished)
        for table in (rows.orders, rows.balances, rows.deposits, rows.refunds):
            table.write_out(self.db, self.cursor, keep=unfinished)

    def _derive(self, unfinished: str | None) -> None:
        deposits: dict[str, list[dict[str, Any]]] = {}
        for key, record in self.rows.deposits.rows.items():
            deposits.setdefault(key[0], []).append(record)
        for (account_id,), balance in self.rows.balances.rows.items():
            if account_id != unfinished:
                derive_account(balance, deposits.get(account_id, []), self.clock.policy,
                               self.clock.now)
