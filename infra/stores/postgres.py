"""The PostgreSQL store: eventsourcing's application recorder plus the message journal in the
same transaction (its `?`-placeholder database adapter is `postgres_database`'s)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import replace
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.utils import get_topic
from psycopg import Cursor
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composed, Identifier

from smsledger.consumers.journal import Batch
from smsledger.infra.stores.chain import (
    CHAIN_TABLE,
    ChainUpgrade,
    chain_digests,
    ensure_chain,
    tail_digest,
)
from smsledger.infra.stores.journal_docs import journal_comment_statements
from smsledger.infra.stores.journal_migration import (
    RECORD_LAYOUT,
    rename_statements,
    retype_statements,
)
from smsledger.infra.stores.journal_sql import (
    POSTGRES_TYPES,
    missing_digest_column,
    release_claims,
    write_journal,
)
from smsledger.infra.stores.journal_tables import journal_ddl, kinds
from smsledger.infra.stores.postgres_catalog import created_relations, schema_is_complete

# Table creation takes this advisory lock (per database): CREATE ... IF NOT EXISTS does not
# wait for a concurrent creator, so two processes opening a new store at once could fail in
# the catalog ("tuple concurrently updated", or a unique violation).
DDL_LOCK = 0x736D736C65646772


def lock_for_ddl(cursor: Cursor[Any]) -> None:
    """Until the end of the cursor's transaction, no other process creates tables."""
    cursor.execute("SELECT pg_advisory_xact_lock(%s)", (DDL_LOCK,))


class PostgresLedgerRecorder(PostgresApplicationRecorder):
    """Creates its schema and the journal tables; writes each event with its chain digest,
    and the journal, in one transaction."""

    position_column = "notification_id"
    # The column the log's walk in aggregate order sorts on, with the version, and the
    # condition that selects one aggregate's events by its originator id (one `?`).
    walk_key = "originator_id"
    aggregate_condition = "originator_id = ?"
    placeholder = "%s"
    blob_type = "BYTEA"
    chain_upgrade: ChainUpgrade | None = None

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        # Connections resolve the journal's and the projections' unqualified table names
        # in the store's schema. Set before the pool opens: it applies to every connection.
        if not datastore.pool.closed:
            raise RuntimeError("the connection pool opened before the recorder was created")
        # Options the store URL gave (`?options=-c ...`) are kept, the schema's added.
        kwargs = datastore.pool.kwargs or {}
        if callable(kwargs):
            raise RuntimeError("the connection pool's kwargs are a function, not a mapping")
        options = " ".join(filter(None, (kwargs.get("options"),
                                         f"-c search_path={datastore.schema}")))
        datastore.pool.kwargs = {**kwargs, "options": options}
        super().__init__(datastore, events_table_name=events_table_name)
        events = (Identifier(datastore.schema), Identifier(self.events_table_name))
        target = SQL(
            "INSERT INTO {0}.{1} (originator_id, originator_version, topic, state, digest)"
        ).format(*events)
        id_type = Identifier(datastore.originator_id_type)
        self._insert_json_statement = SQL(
            "{0} SELECT (e->>0)::{1}, (e->>1)::bigint, e->>2, convert_to(e->>3, 'UTF8'),"
            " decode(e->>4, 'hex')"
            " FROM json_array_elements(%s::json) WITH ORDINALITY AS batch(e, n) ORDER BY n"
        ).format(target, id_type)
        self._insert_columns_statement = SQL(
            "{0} SELECT * FROM unnest(%s::{1}[], %s::bigint[], %s::text[], %s::bytea[],"
            " %s::bytea[])"
        ).format(target, id_type)
        self._head_statement = SQL(
            "UPDATE {0}.ledger_chain SET head_position = (SELECT MAX(notification_id)"
            " FROM {0}.{1}), head_digest = %s WHERE id = 1"
        ).format(*events)
        # The library types its statements as Composed; it executes any psycopg Composable.
        self.sql_create_statements.extend(
            SQL(s) for s in journal_ddl("postgres")  # type: ignore[misc]
        )
        self.sql_create_statements.append(
            SQL(CHAIN_TABLE.format(**POSTGRES_TYPES)))  # type: ignore[arg-type]

    def _insert_stored_events(
        self, curs: Cursor[Any], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        # One statement for the batch, its rows as one JSON document that orjson writes in C
        # (psycopg adapts Python lists element by element in Python). The states are JSON
        # text already and travel as strings, so their bytes arrive unchanged; states that
        # are not UTF-8 text (a cipher or compressor) go as four plain arrays instead.
        # The table lock orders writers, so the chain's tail read after it is this batch's.
        self._lock_table(curs)
        self._notify_channel(curs)
        with curs.connection.cursor(row_factory=tuple_row) as reader:
            digests = chain_digests(tail_digest(reader, self), stored_events)
        document = _as_json_document(stored_events, digests)
        if document is not None:
            curs.execute(self._insert_json_statement, (document,))
        else:
            curs.execute(
                self._insert_columns_statement,
                (
                    [s.originator_id for s in stored_events],
                    [s.originator_version for s in stored_events],
                    [s.topic for s in stored_events],
                    [s.state for s in stored_events],
                    digests,
                ),
            )
        curs.execute(self._head_statement, (digests[-1],))

    def _fetch_ids_after_insert_events(
        self, curs: Cursor[Any], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        # The inserts return no notification ids: nothing here reads them (the read models
        # follow the table by notification id), and a dict per event costs.
        return None

    def create_table(self) -> None:
        if self._schema_is_complete():  # opening an existing store takes no lock
            self.datastore.register_type_adapters()
            return
        with self.datastore.transaction(commit=True) as curs:  # holds the lock meanwhile
            lock_for_ddl(curs)
            self._create_schema()
            self._rename_journal_columns()  # before the CREATE INDEX on the new names
            super().create_table()
            with curs.connection.cursor(row_factory=tuple_row) as cursor:
                cursor.execute(
                    "SELECT 1 FROM information_schema.columns WHERE table_schema = %s"
                    " AND table_name = %s AND column_name = 'digest'",
                    (self.datastore.schema, self.events_table_name),
                )
                has_digest = cursor.fetchone() is not None
                self.chain_upgrade = ensure_chain(cursor, self, has_digest=has_digest)
            self._complete_journal()

    def _schema_is_complete(self) -> bool:
        relations = created_relations(
            s.as_string(None) for s in self.sql_create_statements)
        with self.datastore.transaction(commit=False) as curs, \
                curs.connection.cursor(row_factory=tuple_row) as cursor:
            return schema_is_complete(
                cursor, self.datastore.schema, relations, self.events_table_name)

    def _journal_columns(self, curs: Cursor[Any]) -> dict[tuple[str, str], str]:
        """(table, column) -> catalog type, of every column in the store's schema."""
        curs.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = %s", (self.datastore.schema,))
        return {(r["table_name"], r["column_name"]): r["data_type"] for r in curs.fetchall()}

    def _rename_journal_columns(self) -> None:
        """A journal of layout 1 (`message_id`, `partition_no`, `offset_no`) takes the CLI's
        names, committed before the journal's CREATE statements run on other connections."""
        with self.datastore.transaction(commit=True) as curs:
            columns: dict[str, set[str]] = {}
            for table, column in self._journal_columns(curs):
                columns.setdefault(table, set()).add(column)
            for statement in rename_statements(columns):
                curs.execute(statement)

    def _complete_journal(self) -> None:
        """A journal written before digests were kept gains the column, one of layout 1 has
        its text times and rules retyped; every journal column gets its comment. Looked up
        first: ALTER TABLE locks the table out even when nothing changes."""
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = %s"
                " AND table_name = 'processed_messages'", (self.datastore.schema,))
            columns = {row["column_name"] for row in curs.fetchall()}
            for statement in missing_digest_column(columns):
                curs.execute(statement)
            for statement in retype_statements(self._journal_columns(curs)):
                curs.execute(statement)
            for statement in journal_comment_statements():
                curs.execute(statement)
            curs.execute(RECORD_LAYOUT)

    def _create_schema(self) -> None:
        # Look first: CREATE SCHEMA IF NOT EXISTS needs the CREATE privilege even when the
        # schema exists; a concurrent creator may still win the race (unique violation).
        with self.datastore.transaction(commit=True) as curs:
            curs.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (self.datastore.schema,))
            if curs.fetchone() is not None:
                return
        with contextlib.suppress(IntegrityError), self.datastore.transaction(commit=True) as curs:
            curs.execute(
                SQL("CREATE SCHEMA IF NOT EXISTS {0}").format(Identifier(self.datastore.schema))
            )

    def _insert_events(
        self, curs: Cursor[Any], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        # Runs inside the insert transaction (and pipeline), also when there are no events.
        journal: Batch | None = kwargs.get("journal")
        if journal is None:
            return
        # The two tables with a row per message go in as text arrays, one statement each:
        # a pipelined executemany costs a protocol round of work per row.
        release_claims(curs, journal, "postgres")
        _insert_text_rows(curs, "processed_messages", journal.processed)
        _insert_text_rows(curs, "rejections", journal.rejections)
        write_journal(curs, replace(journal, processed=[], rejections=[]), "postgres",
                      claims_released=True)

    def select_stored_after(self, position: int, limit: int) -> list[tuple[Any, ...]]:
        """(notification id, originator id, version, topic, state) after `position`."""
        statement = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state"
            " FROM {0}.{1} WHERE notification_id > %s ORDER BY notification_id LIMIT %s"
        ).format(Identifier(self.datastore.schema), Identifier(self.events_table_name))
        return self._select(statement, (position, limit))

    def select_chain_after(
        self, position: int, limit: int, up_to: int | None = None
    ) -> list[tuple[Any, ...]]:
        """(position, originator id, version, topic, state, digest) after `position`."""
        bound, params = (SQL(""), (position, limit)) if up_to is None else (
            SQL(" AND notification_id <= %s"), (position, up_to, limit))
        statement = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state, digest"
            " FROM {0}.{1} WHERE notification_id > %s{2} ORDER BY notification_id LIMIT %s"
        ).format(Identifier(self.datastore.schema), Identifier(self.events_table_name), bound)
        return self._select(statement, params)

    def select_events_of(self, originator_ids: list[UUID]) -> list[StoredEvent]:
        """The events of many aggregates in one query, in version order per aggregate."""
        statement = SQL(
            "SELECT originator_id, originator_version, topic, state FROM {0}.{1}"
            " WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version"
        ).format(Identifier(self.datastore.schema), Identifier(self.events_table_name))
        rows = self._select(statement, (list(originator_ids),))
        return [StoredEvent(r[0], r[1], r[2], bytes(r[3])) for r in rows]

    def last_notification_id(self, cursor: Cursor[Any] | None = None) -> int:
        """The notification id of the last stored event (0 for none), read on `cursor`
        (a transaction's, rows as tuples) or on a connection of its own."""
        statement = SQL("SELECT MAX(notification_id) FROM {0}.{1}").format(
            Identifier(self.datastore.schema), Identifier(self.events_table_name))
        return self._select(statement, (), cursor)[0][0] or 0

    def select_by_aggregate(
        self, after: tuple[Any, int] | None, up_to: int, limit: int,
        cursor: Cursor[Any] | None = None,
    ) -> list[tuple[Any, ...]]:
        """(originator id, version, topic, state, originator id) in (originator, version)
        order, the primary key's, of the events up to notification id `up_to`, after the
        key `after`; the last column is the walk's key, as SQLite's log has its own."""
        start = SQL("")
        params: tuple[Any, ...] = (up_to, limit)
        if after is not None:
            start = SQL("(originator_id, originator_version) > (%s, %s) AND ")
            params = (*after, up_to, limit)
        statement = SQL(
            "SELECT originator_id, originator_version, topic, state, originator_id"
            " FROM {0}.{1} WHERE {2}notification_id <= %s"
            " ORDER BY originator_id, originator_version"
            " LIMIT %s"
        ).format(Identifier(self.datastore.schema), Identifier(self.events_table_name), start)
        return self._select(statement, params, cursor)

    def _select(
        self, statement: Composed, params: tuple[Any, ...], cursor: Cursor[Any] | None = None
    ) -> list[tuple[Any, ...]]:
        if cursor is not None:
            cursor.execute(statement, params)
            return cursor.fetchall()
        with (
            self.datastore.get_connection() as conn,
            conn.cursor(row_factory=tuple_row) as curs,
        ):
            curs.execute(statement, params, prepare=True)
            return curs.fetchall()


def _as_json_document(stored_events: Sequence[StoredEvent], digests: list[bytes]) -> str | None:
    """The events as one JSON array, or None if a state is not text PostgreSQL can hold."""
    try:
        rows = [(s.originator_id, s.originator_version, s.topic, s.state.decode(), d.hex())
                for s, d in zip(stored_events, digests, strict=True)]
    except UnicodeDecodeError:
        return None
    if any("\x00" in row[3] for row in rows):
        return None  # valid UTF-8, yet no PostgreSQL text may hold a NUL
    return orjson.dumps(rows).decode()


# A text field of a JSON row as the journal column's kind. The engine gives rule ids
# comma-separated (`Batch.rejections`), stored as a JSON array.
_FIELD_AS = {"TIME": "(e->>{0})::timestamptz", "JSON": "to_jsonb(string_to_array(e->>{0}, ','))"}


def _insert_text_rows(curs: Cursor[Any], table: str, rows: Sequence[Sequence[Any]]) -> None:
    """Rows of text (or NULL) fields, sent as one JSON array of arrays, each field made
    its column's kind."""
    if not rows:
        return
    fields = SQL(", ").join(SQL(_FIELD_AS.get(kind, "e->>{0}").format(i))
                            for i, kind in enumerate(kinds(table)))
    curs.execute(
        SQL("INSERT INTO {0} SELECT {1} FROM json_array_elements(%s::json) AS batch(e)").format(
            Identifier(table), fields),
        (orjson.dumps(rows).decode(),),
    )


def postgres_recorder_topic() -> str:
    return get_topic(PostgresLedgerRecorder)
