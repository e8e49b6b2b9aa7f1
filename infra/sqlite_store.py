"""The SQLite recorder: eventsourcing's application recorder plus the message journal,
written in the same transaction, with one executemany for the events of a batch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor

from .journal_sql import SQLITE_TYPES, journal_ddl, write_journal


class SQLiteLedgerRecorder(SQLiteApplicationRecorder):
    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *journal_ddl(SQLITE_TYPES)]

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        # Notification ids are the table's rowids, assigned in insertion order.
        c.executemany(
            self.insert_events_statement,
            [
                (
                    s.originator_id.hex if isinstance(s.originator_id, UUID) else s.originator_id,
                    s.originator_version,
                    s.topic,
                    s.state,
                )
                for s in stored_events
            ],
        )
        journal = kwargs.get("journal")
        if journal is not None:
            write_journal(c, journal)
        return None
