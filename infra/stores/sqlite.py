"""The SQLite recorder: eventsourcing's application recorder plus the message journal,
written in the same transaction, with one executemany for the events of a batch."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, StoredEvent
from eventsourcing.sqlite import (
    SQLiteApplicationRecorder,
    SQLiteCursor,
    SQLiteDatastore,
    SQLiteFactory,
)

from smsledger.infra.stores.chain import (
    CHAIN_TABLE,
    ChainUpgrade,
    chain_digests,
    ensure_chain,
    tail_digest,
)
from smsledger.infra.stores.journal_migration import RECORD_LAYOUT, migrate_sqlite
from smsledger.infra.stores.journal_sql import SQLITE_TYPES, missing_digest_column, write_journal
from smsledger.infra.stores.journal_tables import JOURNAL_LAYOUT, journal_ddl
from smsledger.infra.stores.sqlite_checkpoint import BackgroundCheckpoint
from smsledger.infra.stores.sqlite_connections import (
    ImmediateTransaction,
    SQLiteLedgerPool,
    plain_rows,
    write_transaction,
)
from smsledger.infra.stores.sqlite_keys import (
    KEY_OF,
    KEYS_TABLE,
    AggregateKeys,
    declared_columns,
    events_ddl,
    key_existing_log,
)
from smsledger.projections.folding import originator_hex


class SQLiteLedgerFactory(SQLiteFactory):
    """The library's SQLite factory, whose datastore opens connections from that pool; its
    recorders' background checkpoints end before the datastore closes."""

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        old = self.datastore.pool  # has opened no connection yet
        self.datastore.pool = SQLiteLedgerPool(
            db_name=old.db_name, lock_timeout=old.lock_timeout,
            pool_size=old.pool_size, max_overflow=old.max_overflow,
            pool_timeout=old.pool_timeout, max_age=old.max_age, pre_ping=old.pre_ping,
        )
        self.recorders: list[SQLiteLedgerRecorder] = []

    def application_recorder(self) -> ApplicationRecorder:
        recorder = super().application_recorder()
        if isinstance(recorder, SQLiteLedgerRecorder):
            self.recorders.append(recorder)
        return recorder

    def close(self) -> None:
        for recorder in self.recorders:
            if recorder.checkpoint is not None:
                recorder.checkpoint.close()
        super().close()


class SQLiteLedgerRecorder(SQLiteApplicationRecorder):
    """Writes each event with its chain digest, and the journal, in one transaction. Events
    are keyed by their aggregate's small integer key (`sqlite_keys`)."""

    position_column = "rowid"
    placeholder = "?"
    blob_type = "BLOB"
    # The column the log's walk in aggregate order sorts on, with the version, and the
    # condition that selects one aggregate's events by its originator id (one `?`).
    walk_key = "aggregate_key"
    aggregate_condition = f"aggregate_key = {KEY_OF}"
    chain_upgrade: ChainUpgrade | None = None
    rekeyed: int | None = None  # events of an older store given keys when it was opened

    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name)
        self.insert_events_statement = (
            f"INSERT INTO {self.events_table_name} (originator_id, originator_version,"
            f" topic, state, digest, aggregate_key) VALUES (?, ?, ?, ?, ?, ?)"
        )
        self.keys = AggregateKeys()
        pool = datastore.pool
        # The writer's checkpoints, off its thread (none for an in-memory database).
        self.checkpoint = (None if pool.is_sqlite_memory_mode
                           else BackgroundCheckpoint(pool.db_name))
        # The library's reads of one aggregate append their conditions to this.
        self.select_events_statement = (
            f"SELECT originator_id, originator_version, topic, state"
            f" FROM {self.events_table_name} WHERE {self.aggregate_condition} "
        )

    def construct_create_table_statements(self) -> list[str]:
        return [
            *events_ddl(self.events_table_name), *journal_ddl("sqlite"),
            CHAIN_TABLE.format(**SQLITE_TYPES),
        ]

    def create_table(self) -> None:
        # The library's deferred transaction fails at once when another process (a second
        # consumer starting beside the first) creates the tables at the same moment.
        with write_transaction(self.datastore) as cursor:
            layout = migrate_sqlite(cursor)  # an older journal, before the CREATEs index it
            self.rekeyed = key_existing_log(cursor, self.events_table_name)
            self._create_table(cursor)
            cursor.execute("PRAGMA table_info(processed_messages)")
            for statement in missing_digest_column({row[1] for row in cursor.fetchall()}):
                cursor.execute(statement)
            if layout != JOURNAL_LAYOUT:
                cursor.execute(RECORD_LAYOUT)
            has_digest = "digest" in declared_columns(cursor, self.events_table_name)
            self.chain_upgrade = ensure_chain(cursor, self, has_digest=has_digest)

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if self.checkpoint is not None:
            self.checkpoint.wait()  # the log starts again from its beginning
        try:
            with (
                self.datastore.get_connection(commit=True) as connection,
                ImmediateTransaction(connection, commit=True) as cursor,
            ):
                self._insert_events(cursor, stored_events, **kwargs)
        except BaseException:
            self.keys.discard()
            raise
        self.keys.commit()
        if self.checkpoint is not None:
            self.checkpoint.committed(len(stored_events))
        return None

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        # Notification ids are the table's rowids, assigned in insertion order, which is
        # the chain's order; the transaction holds the write lock from its start.
        if stored_events:
            digests = chain_digests(tail_digest(c, self), stored_events)
            originators = [originator_hex(s.originator_id) for s in stored_events]
            versions = [s.originator_version for s in stored_events]
            keys = self.keys.for_events(c, originators, versions)
            c.executemany(
                self.insert_events_statement,
                [
                    (o, v, s.topic, s.state, digest, keys[o])
                    for o, v, s, digest in zip(originators, versions, stored_events, digests,
                                               strict=True)
                ],
            )
            c.execute(self.head_statement(), (digests[-1],))
        journal = kwargs.get("journal")
        if journal is not None:
            write_journal(c, journal)
        return None

    def select_stored_after(self, position: int, limit: int) -> list[tuple[Any, ...]]:
        """(notification id, originator hex, version, topic, state) after `position`."""
        with self.datastore.transaction(commit=False) as c:
            plain_rows(c)
            c.execute(
                f"SELECT rowid, originator_id, originator_version, topic, state"
                f" FROM {self.events_table_name} WHERE rowid > ? ORDER BY rowid LIMIT ?",
                (position, limit),
            )
            return c.fetchall()  # type: ignore[no-any-return]

    def head_statement(self) -> str:
        return (
            f"UPDATE ledger_chain SET head_position = (SELECT MAX(rowid) FROM"
            f" {self.events_table_name}), head_digest = ? WHERE id = 1"
        )

    def select_chain_after(
        self, position: int, limit: int, up_to: int | None = None
    ) -> list[tuple[Any, ...]]:
        """(position, originator hex, version, topic, state, digest) after `position`."""
        bound, params = ("", (position, limit)) if up_to is None else (
            " AND rowid <= ?", (position, up_to, limit))
        with self.datastore.transaction(commit=False) as c:
            plain_rows(c).execute(
                f"SELECT rowid, originator_id, originator_version, topic, state, digest"
                f" FROM {self.events_table_name} WHERE rowid > ?{bound} ORDER BY rowid LIMIT ?",
                params,
            )
            return c.fetchall()  # type: ignore[no-any-return]

    def last_notification_id(self, cursor: Any | None = None) -> int:
        """The notification id of the last stored event (0 for none), read on `cursor` or,
        without one, in a read transaction of its own."""
        with self._reading(cursor) as c:
            c.execute(f"SELECT MAX(rowid) FROM {self.events_table_name}")
            return c.fetchone()[0] or 0

    def select_by_aggregate(
        self, after: tuple[Any, int] | None, up_to: int, limit: int, cursor: Any | None = None
    ) -> list[tuple[Any, ...]]:
        """(originator hex, version, topic, state, aggregate key) in (aggregate key,
        version) order, of the events up to notification id `up_to`, after the (key,
        version) `after`: a seek in the events' unique index per call."""
        start, params = "", [up_to]
        if after is not None:
            start, params = "(aggregate_key, originator_version) > (?, ?) AND ", [*after, up_to]
        with self._reading(cursor) as c:
            c.execute(
                f"SELECT originator_id, originator_version, topic, state, aggregate_key"
                f" FROM {self.events_table_name} WHERE {start}rowid <= ?"
                f" AND aggregate_key IS NOT NULL"
                f" ORDER BY aggregate_key, originator_version LIMIT ?",
                (*params, limit),
            )
            return c.fetchall()  # type: ignore[no-any-return]

    @contextmanager
    def _reading(self, cursor: Any | None) -> Iterator[Any]:
        if cursor is not None:
            yield cursor
            return
        with self.datastore.transaction(commit=False) as c:
            yield plain_rows(c)

    def select_events_of(self, originator_ids: list[UUID]) -> list[StoredEvent]:
        """The events of many aggregates in one query per 500 ids, in version order."""
        found: list[StoredEvent] = []
        with self.datastore.transaction(commit=False) as c:
            plain_rows(c)
            for start in range(0, len(originator_ids), 500):
                chunk = [i.hex for i in originator_ids[start : start + 500]]
                c.execute(
                    f"SELECT e.originator_id, e.originator_version, e.topic, e.state, k.key"
                    f" FROM {KEYS_TABLE} k JOIN {self.events_table_name} e"
                    f" ON e.aggregate_key = k.key WHERE k.originator_id IN"
                    f" ({','.join('?' * len(chunk))}) ORDER BY e.aggregate_key,"
                    f" e.originator_version",
                    chunk,
                )
                rows = c.fetchall()
                events = [StoredEvent(UUID(r[0]), r[1], r[2], r[3]) for r in rows]
                found.extend(events)
                self.keys.remember({r[0]: r[4] for r in rows})
        return found
