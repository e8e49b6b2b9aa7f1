"""The audit's replay: the log read in (aggregate, version) order, the events' unique key's,
each aggregate folded from its events and handed on when its last one has been read, so
one aggregate at a time is in memory. The rebuild of the read models reads the log in the
same order; the audit has it read once for both (`LogTee`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.persistence import MapperDeserialisationError, StoredEvent

from smsledger.infra.audit import log_reads
from smsledger.infra.audit.chain import aggregate_name, event_columns, originator_uuid
from smsledger.infra.audit.report import AuditReport
from smsledger.infra.stores.chain import state_bytes
from smsledger.infra.stores.transcoding import UnknownTopicError

PAGE = 5000


@dataclass
class _Folded:
    """One aggregate replayed so far, from the rows of one originator id as stored."""

    stored_id: Any
    originator: UUID | None = None
    current: Any = None
    position: int = 0
    policies: set[str] = field(default_factory=set)
    # An event out of version order, out of log order or unreadable: replayed again.
    broken: bool = False


class Replay:
    """Walks the log in key order up to position `up_to`. An aggregate whose events, in
    that order, have consecutive versions at rising positions has them in the same order in
    the log: it is folded as it comes. Any other is replayed again in log order, as the
    events were written, so that what is reported is the first event out of place there
    (a version swapped with a later one comes first in the log, not in the key's order).
    An aggregate that cannot be replayed is reported and set aside; the others are handed
    to `take`."""

    def __init__(self, opened: Any, report: AuditReport, up_to: int,
                 take: Callable[[Any], None],
                 progress: Callable[[int], None] | None = None) -> None:
        self.database, self.recorder, self.mapper = (
            opened.database, opened.recorder, opened.mapper)
        self.report, self.up_to, self.take, self.progress = report, up_to, take, progress
        self.folded: _Folded | None = None
        self.after: tuple[Any, Any] | None = None  # the key of the last row read
        self.read = 0
        self.done = False  # every page read

    def page(self, after: tuple[Any, Any] | None, limit: int) -> list[tuple[Any, ...]]:
        """The next page after the (walk key, version) `after`, (position, originator,
        version, topic, state, walk key) rows, replayed before they are returned."""
        rows = log_reads.events_by_aggregate(self.database, self.recorder, after,
                                             self.up_to, limit)
        for row in rows:
            self.row(row)
        if rows:
            self.after, self.read = (rows[-1][5], rows[-1][2]), self.read + len(rows)
            if self.progress is not None:
                self.progress(self.read)
        else:
            self.done = True
        return rows

    def finish(self) -> None:
        """Read what is left of the log (all of it, if no one else read it) and hand on
        the last aggregate."""
        while not self.done:
            self.page(self.after, PAGE)
        self.end()

    def row(self, row: tuple[Any, ...]) -> None:
        folded = self.folded
        if folded is None or row[1] != folded.stored_id:
            self.end()
            folded = self.folded = _Folded(row[1], originator_uuid(row[1]))
            folded.broken = folded.originator in self.report.unreadable
        position, version, topic, state = row[0], row[2], row[3], row[4]
        if folded.broken or folded.originator is None or not isinstance(version, int) or (
            not isinstance(topic, str) or state is None
        ):
            return  # columns not an event's: reported by the chain's pass
        if position < folded.position:
            folded.broken = True
            return
        columns = (folded.originator, version, topic, state_bytes(state))
        folded.broken = self._step(folded, position, columns) is not None

    def end(self) -> None:
        """The aggregate walked so far is complete."""
        folded, self.folded = self.folded, None
        if folded is None or folded.originator is None:
            return
        if folded.broken:
            folded = self._again(folded)
        if folded is not None and folded.current is not None:
            self.report.policies |= folded.policies
            self.take(folded.current)

    def _again(self, broken: _Folded) -> _Folded | None:
        originator = broken.originator
        if originator is None or originator in self.report.unreadable:
            return None
        folded = _Folded(broken.stored_id)
        for row in log_reads.events_in_log_order(self.database, self.recorder,
                                                 broken.stored_id, self.up_to):
            columns = event_columns(row)
            problem = None if columns is None else self._step(folded, row[0], columns)
            if problem is not None:  # the decisions folded before it still name policies
                self.report.policies |= folded.policies
                self.report.unreadable.add(originator)
                self.report.problems.append(
                    f"{aggregate_name(self.recorder, originator)}: {problem}")
                return None
        return folded

    def _step(self, folded: _Folded, position: int,
              columns: tuple[UUID, int, str, bytes]) -> str | None:
        """Apply one event; what is wrong with it, if it cannot be."""
        version = columns[1]
        expected = 1 if folded.current is None else folded.current.version + 1
        if version != expected:
            return version_problem(expected, version)
        try:
            event = self.mapper.to_domain_event(StoredEvent(*columns))
            folded.current = event.mutate(folded.current)
        except (UnknownTopicError, MapperDeserialisationError) as error:
            return f"event at position {position} cannot be read: {error}"
        except Exception as error:  # an altered event's fields may break any apply()
            return (f"event at position {position} cannot be applied"
                    f" ({type(error).__name__}: {error})")
        folded.position = position
        policy = getattr(event, "policy", None)
        if policy:
            folded.policies.add(policy)
        return None


def version_problem(expected: int, version: int) -> str:
    if version > expected:
        missing = f"version {expected}" if version == expected + 1 else (
            f"versions {expected}-{version - 1}")
        return (f"version {version} follows version {expected - 1}: {missing} missing"
                " (events removed, or versions renumbered)")
    return (f"version {version} follows version {expected - 1}: versions out of order"
            " (swapped or duplicated)")


class LogTee:
    """The log as the rebuild reads it (`projections.rebuild.AggregateOrderedLog`), each
    page replayed on the way: one read of the log in key order for both. Only for a log
    whose every row has an event's columns: the rebuild's own read would hand it a row
    with a NULL key, which the replay's walk leaves out."""

    def __init__(self, replay: Replay) -> None:
        self.replay = replay
        self.error: Exception | None = None  # the replay's, kept from the rebuild's handler

    def last_notification_id(self, cursor: Any | None = None) -> int:
        return self.replay.up_to

    def select_by_aggregate(
        self, after: tuple[Any, int] | None, up_to: int, limit: int, cursor: Any | None = None
    ) -> list[tuple[Any, ...]]:
        try:
            rows = self.replay.page(after, limit)
        except Exception as error:
            self.error = error
            raise
        return [row[1:] for row in rows]
