"""The event store behind the engine: an eventsourcing application, a bounded aggregate
cache, and reads of the message journal. Implements `consumers.journal.LedgerStore`."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Mapper, Transcoder

from smsledger.consumers.journal import (
    SINGLE_CLOCK,
    Batch,
    Inbound,
    Parked,
    Seen,
    message_digest,
)
from smsledger.domain.policy_versions import UsedVersion
from smsledger.infra.stores.journal_sql import stored_clock, stored_time
from smsledger.infra.stores.transcoding import FastMapper, OrjsonTranscoder
from smsledger.projections.db import Database

_ABSENT = object()


class LedgerApplication(Application[UUID]):
    """The application object: persistence configured from the store URL by `infra.stores`."""

    name = "smsledger"

    def construct_transcoder(self) -> Transcoder:
        return OrjsonTranscoder()

    def construct_mapper(self) -> Mapper[UUID]:
        return FastMapper(self.construct_transcoder())


class EventStore:
    """Aggregates by id, cached while this process owns them; the journal; atomic commits."""

    def __init__(self, app: Application[UUID], database: Database, cache_size: int = 200_000):
        self.app = app
        self.database = database
        self.cache_size = cache_size
        # Two LRUs. Accounts, open orders and refund requests (`_cache`) are read again
        # and again; a finished order (`_finished`), or the mark that an id has no events
        # yet, rarely is. Kept in one LRU, the day's finished orders pushed the long-lived
        # accounts out, and every evicted account was replayed from the log on its next
        # message: the cost of a message grew with the log.
        self._cache: OrderedDict[UUID, Any] = OrderedDict()
        self._finished: OrderedDict[UUID, Any] = OrderedDict()
        self.finished_size = max(cache_size // 4, 1)
        self.reads = 0  # aggregates read from the store (not found in either LRU)

    def get(self, aggregate_id: UUID) -> Aggregate | None:
        cached = self._cached(aggregate_id)
        if cached is not None:
            return None if cached is _ABSENT else cached
        try:
            aggregate: Aggregate | None = self.app.repository.get(aggregate_id)
        except AggregateNotFoundError:
            aggregate = None
        self.reads += 1
        self._remember(aggregate_id, aggregate)
        return aggregate

    def _cached(self, aggregate_id: UUID) -> Any:
        for lru in (self._cache, self._finished):
            cached = lru.get(aggregate_id, None)
            if cached is not None:
                lru.move_to_end(aggregate_id)
                return cached
        return None

    def _remember(self, aggregate_id: UUID, aggregate: Aggregate | None) -> None:
        finished = aggregate is None or getattr(aggregate, "is_final", False)
        lru, other, size = ((self._finished, self._cache, self.finished_size) if finished
                            else (self._cache, self._finished, self.cache_size))
        other.pop(aggregate_id, None)
        lru[aggregate_id] = _ABSENT if aggregate is None else aggregate
        lru.move_to_end(aggregate_id)
        while len(lru) > size:
            lru.popitem(last=False)

    def forget(self, aggregate_ids: list[UUID] | None = None) -> None:
        if aggregate_ids is None:
            self._cache.clear()
            self._finished.clear()
        for aggregate_id in aggregate_ids or ():
            self._cache.pop(aggregate_id, None)
            self._finished.pop(aggregate_id, None)

    def prefetch(self, aggregate_ids: list[UUID]) -> None:
        """Load every aggregate a batch will need in bulk, absent ones included."""
        wanted = [i for i in dict.fromkeys(aggregate_ids)
                  if i not in self._cache and i not in self._finished]
        if not wanted:
            return
        self.reads += len(wanted)
        mapper = self.app.mapper
        found: dict[UUID, Any] = {}
        for stored in self.app.recorder.select_events_of(wanted):  # type: ignore[attr-defined]
            event = mapper.to_domain_event(stored)
            # The mapper is typed to return the event protocol; these are aggregate events.
            found[stored.originator_id] = event.mutate(  # type: ignore[attr-defined]
                found.get(stored.originator_id)
            )
        for aggregate_id in wanted:
            self._remember(aggregate_id, found.get(aggregate_id))

    def commit(self, batch: Batch) -> None:
        """Events of every touched aggregate and the journal, in one transaction."""
        events = [e for a in batch.aggregates.values() for e in a.collect_events()]
        self.app.events.put(events, journal=batch)  # on failure the engine forgets the batch
        for aggregate_id, aggregate in batch.aggregates.items():
            self._remember(aggregate_id, aggregate)

    def seen(self, message_ids: list[str]) -> dict[str, Seen]:
        """What the journal holds of these message ids (processed or parked)."""
        found = {
            r[0]: Seen(r[1] == "dead_lettered", r[2])
            for r in self.database.rows_with(
                "processed_messages", "message, outcome, digest", "message", message_ids)
        }
        for r in self.database.rows_with(
                "parked_messages", "message, raw", "message", message_ids):
            found[r[0]] = Seen(False, message_digest(bytes(r[1])))
        return found

    def deadlines(self) -> list[tuple[UUID, str, datetime, str]]:
        rows = self.database.query("SELECT aggregate_id, kind, due, account FROM deadlines", ())
        return [(UUID(r[0]), r[1], stored_clock(r[2]), r[3]) for r in rows]

    def parked(self) -> list[Parked]:
        rows = self.database.query(
            'SELECT message, kind, subject, at, source, "partition", "offset", raw'
            " FROM parked_messages",
            (),
        )
        return [
            Parked(r[0], r[1], r[2], stored_clock(r[3]),
                   Inbound(bytes(r[7]), r[4], r[5], r[6]))
            for r in rows
        ]

    def watermark(self) -> datetime | None:
        rows = self.database.query("SELECT watermark FROM ledger_clock WHERE id = 1", ())
        return stored_clock(rows[0][0]) if rows else None

    def policy_name(self) -> str | None:
        rows = self.database.query("SELECT policy FROM ledger_clock WHERE id = 1", ())
        return rows[0][0] if rows else None

    def used_policy_versions(self) -> list[UsedVersion]:
        rows = self.database.query(
            "SELECT ref, digest, first_at, last_at FROM policy_versions ORDER BY ref", ())
        return [UsedVersion(r[0], r[1], stored_clock(r[2]), stored_clock(r[3])) for r in rows]

    def policy_dir(self) -> str | None:
        rows = self.database.query("SELECT path FROM policy_dir WHERE id = 1", ())
        return rows[0][0] if rows else None

    def remember_policy_dir(self, path: str) -> None:
        """Commands not given a policy directory use the one the store was last given."""
        with self.database.transaction() as cursor:
            self.database.execute(
                cursor,
                "INSERT INTO policy_dir VALUES (1, ?) ON CONFLICT (id)"
                " DO UPDATE SET path = excluded.path",
                (path,),
            )

    def offsets(self, consumer_group: str) -> dict[tuple[str, int], int]:
        rows = self.database.query(
            'SELECT topic, "partition", next_offset FROM consumer_offsets'
            " WHERE consumer_group = ?",
            (consumer_group,),
        )
        return {(r[0], r[1]): r[2] for r in rows}

    def clocks(
        self, consumer_group: str
    ) -> dict[int | None, tuple[datetime | None, datetime | None]]:
        rows = self.database.query(
            'SELECT "partition", clock, latest FROM partition_clocks'
            " WHERE consumer_group = ?",
            (consumer_group,),
        )
        return {None if r[0] == SINGLE_CLOCK else r[0]: (stored_time(r[1]), stored_time(r[2]))
                for r in rows}

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        with self.database.transaction() as cursor:
            yield cursor

