"""The Kafka consumer: one member of a consumer group, with exactly-once effect.

Offsets are stored in the event store in the same transaction as the events they caused
(see `engine.Engine.commit`); on every assignment the member seeks to them, and Kafka's own
committed offsets are written only as a hint for tools. Records of the assigned partitions
are merged in the produced order (or event-time order, see `partitions`; the buffers are
`merging`'s), so three topics give the same state as one file. With `stop_when_idle`, a
member stops only when the whole group has consumed every inbound partition (see `drain`),
or says which it left.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from eventsourcing.persistence import RecordConflictError
from kafka import ConsumerRebalanceListener, OffsetAndMetadata, TopicPartition

from .consume_report import ConsumeReport
from .drain import DrainWatch
from .engine import Engine
from .journal import Batch
from .merging import Merging
from .observer import ConsumerObserver
from .partitions import Buffered, PartitionOwnership
from .schedule import ClockKey, Ownership

log = logging.getLogger(__name__)


class LedgerConsumer(Merging):
    """Polls, merges, applies and commits until stopped or idle."""

    def __init__(
        self,
        consumer: Any,
        make_engine: Callable[[Ownership], Engine],
        *,
        topics: tuple[str, ...],
        publish_dead_letters: Callable[[Batch], int],
        batch_size: int = 8000,
        buffer_limit: int | None = None,
        stop_when_idle: float | None = None,
        drain: DrainWatch | None = None,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        observer: ConsumerObserver | None = None,
    ) -> None:
        self.consumer = consumer
        self.make_engine = make_engine
        self.topics = topics
        # Tie-break of equal event times without a producer sequence: money first,
        # then customers, then providers (payments, customer, provider topic order).
        self.rank = {topic: i for i, topic in enumerate((topics[2], topics[1], topics[0]))}
        self.publish_dead_letters = publish_dead_letters
        self.batch_size = batch_size
        # Records held in the merge buffers (all partitions) at which polling pauses.
        self.buffer_limit = buffer_limit or 4 * batch_size
        self.stop_when_idle = stop_when_idle
        self.drain = drain
        self.wall_clock = wall_clock
        self.observer = observer or ConsumerObserver()
        self.report = ConsumeReport()
        self.stopping = False
        self.engine: Engine | None = None
        self.buffers: dict[TopicPartition, deque[Buffered]] = {}
        self._ticked = 0.0
        self._last_record = 0.0
        self._polled_at = 0.0
        self._assigned_at = 0.0
        self._anchor: tuple[dict[ClockKey, datetime], float] | None = None

    def stop(self) -> None:
        """Finish the batch in hand, then leave (safe to call from a signal handler)."""
        self.stopping = True

    def run(self) -> ConsumeReport:
        self.consumer.subscribe(topics=list(self.topics), listener=_Listener(self))
        self._last_record = time.monotonic()
        applied = False
        while not self.stopping:
            self.observer.turn(self)
            if self.stopping:
                break
            self._fetch(applied)
            if self.engine is None:
                applied = False
                continue
            try:
                applied = self._apply_merged()
                if applied or not self._caught_up():
                    self._anchor = None
                elif time.monotonic() - self._ticked >= 1.0:
                    self._follow_the_clock()
            except RecordConflictError as conflict:
                # Another writer changed an aggregate or journal row we hold (a member that
                # has not noticed it lost these partitions): nothing of the batch was
                # written. Re-read our partitions' state and offsets, and go on from there.
                log.warning("batch conflicted with another writer, re-reading: %s", conflict)
                self.assigned(list(self.buffers))
                applied = False
            if self._idle_for(self._last_record) and self._drained():
                self._end_of_input()
                break
        self.consumer.close()
        return self.report

    def _drained(self) -> bool:
        """Idle with its own partitions caught up: stop if the whole group is (or gave up
        waiting for it, with the partitions left in the report)."""
        if self.drain is None:
            return True
        if not self.drain.may_stop():
            return False
        self.report.unconsumed = list(self.drain.left)
        return True

    def _end_of_input(self) -> None:
        """Stopping drained, the input is over as at the end of a file: on each partition
        every deadline before its latest event time is settled (what is parked stays
        parked: the topics go on)."""
        if self.engine is None or self.report.unconsumed:
            return
        self.engine.input_over()
        try:
            self._commit()
        except RecordConflictError as conflict:
            log.warning("partitions moved to another member while stopping: %s", conflict)

    def _follow_the_clock(self) -> None:
        """Everything is read: each partition's time moves on with the wall clock, from
        the latest event time read on it. It advances by the time elapsed since catching
        up (never past the wall clock), so a replay of old traffic does not jump to
        today's date and settle deadlines its own messages never reached, and a tick that
        came to one partition only moves no other partition's time."""
        assert self.engine is not None
        now = time.monotonic()
        self._ticked = now
        if self._anchor is None:
            self._anchor = (self.engine.latest_times(), now)
        latest, since = self._anchor
        if not latest:
            return
        wall, elapsed = self.wall_clock(), timedelta(seconds=now - since)
        self.engine.advance_clocks({key: min(wall, at + elapsed) for key, at in latest.items()})
        self._commit()

    def _idle_for(self, last_record: float) -> bool:
        """Idle: partitions assigned, everything read, and nothing new for the whole span.
        Time spent joining the group or catching up never counts."""
        if self.stop_when_idle is None or self.engine is None or not self._caught_up():
            return False
        if not self.observer.may_idle():
            self._last_record = time.monotonic()  # the span starts again afterwards
            return False
        return time.monotonic() - max(last_record, self._assigned_at) >= self.stop_when_idle

    def _apply_merged(self) -> bool:
        batch = self._merge()
        if not batch:
            return False
        assert self.engine is not None
        started = time.monotonic()
        self.engine.process(batch)
        self._commit()
        self.report.records += len(batch)
        self.report.last_applied = time.monotonic()
        self.observer.applied(self, len(batch), self.report.last_applied - started)
        return True

    def _commit(self) -> None:
        assert self.engine is not None
        batch = self.engine.commit()
        self.report.batches += 1
        self.report.late += len(batch.late)
        self.report.dead_letters_published += self.publish_dead_letters(batch)
        self.observer.committed(self, batch)
        if batch.offsets:
            hint = {
                TopicPartition(t, p): OffsetAndMetadata(o, "", -1)
                for (t, p), o in batch.offsets.items()
            }
            self.consumer.commit_async(offsets=hint)

    # Rebalances: the state of the partitions we own is re-read from the store.

    def assigned(self, partitions: list[TopicPartition]) -> None:
        self.report.rebalances += 1
        self._assigned_at = time.monotonic()
        if self.report.first_assigned is None:
            self.report.first_assigned = self._assigned_at
        self.buffers = {tp: deque() for tp in partitions}
        numbers = {tp.partition for tp in partitions}
        counts = {len(self.consumer.partitions_for_topic(t) or ()) for t in self.topics}
        if len(counts) != 1:
            raise RuntimeError(f"inbound topics are not co-partitioned: {sorted(counts)}")
        self.engine = self.make_engine(PartitionOwnership(numbers, counts.pop()))
        self._anchor = None
        stored = self.engine.store.offsets(self.engine.consumer_group)
        for tp in partitions:
            offset = stored.get((tp.topic, tp.partition))
            if offset is None:
                self.consumer.seek_to_beginning(tp)
            else:
                self.consumer.seek(tp, offset)
        log.info("assigned %s", sorted((tp.topic, tp.partition) for tp in partitions))
        self.observer.assigned(self, partitions)

    def revoked(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self.buffers.pop(tp, None)
        self.engine = None
        self.observer.revoked(self, partitions)


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]  # kafka-python: untyped, Any
    def __init__(self, owner: LedgerConsumer) -> None:
        self.owner = owner

    def on_partitions_revoked(self, revoked: Any) -> None:
        self.owner.revoked(list(revoked))

    def on_partitions_assigned(self, assigned: Any) -> None:
        self.owner.assigned(list(assigned))
