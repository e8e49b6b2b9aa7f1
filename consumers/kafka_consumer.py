"""The Kafka consumer: one member of a consumer group, with exactly-once effect.

Offsets are stored in the event store in the same transaction as the events they caused
(see `engine.Engine.commit`); on every assignment the member seeks to them, and Kafka's own
committed offsets are written only as a hint for tools. Records of the assigned partitions
are merged in the produced order (or event-time order, see `partitions`), so three topics
give the same state as one file. With `stop_when_idle`, a member stops only when the whole
group has consumed every inbound partition (see `drain`), or says which it left.
"""

from __future__ import annotations

import heapq
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from eventsourcing.persistence import RecordConflictError
from kafka import ConsumerRebalanceListener, OffsetAndMetadata, TopicPartition

from .drain import DrainWatch, Unconsumed
from .engine import Engine
from .journal import Batch, Inbound
from .observer import ConsumerObserver
from .partitions import Buffered, PartitionOwnership, buffered
from .schedule import ClockKey, Ownership

log = logging.getLogger(__name__)

# How long a poll may wait for records when the buffers gave nothing to apply.
POLL_WAIT_MS = 200
# Polls are skipped while the buffers are full for at most this long, well inside any
# max_poll_interval (the group evicts a member that has not polled for that long).
POLL_AT_LEAST_S = 1.0


@dataclass
class ConsumeReport:
    batches: int = 0
    records: int = 0
    dead_letters_published: int = 0
    rebalances: int = 0
    polls_skipped: int = 0  # enough was buffered: the backlog waited in Kafka
    peak_buffered: int = 0  # the most records held in the merge buffers at once
    first_assigned: float | None = None  # monotonic clock: the span of actual work
    last_applied: float | None = None
    late: int = 0  # messages applied behind their partition's clock (see settling)
    # Partitions left unconsumed when an idle member gave up waiting for the group.
    unconsumed: list[Unconsumed] = field(default_factory=list)

    @property
    def working_seconds(self) -> float:
        if self.first_assigned is None or self.last_applied is None:
            return 0.0
        return self.last_applied - self.first_assigned


class LedgerConsumer:
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

    def _fetch(self, applied: bool) -> None:
        """Poll for records into the merge buffers. After a batch was applied the poll
        does not wait: the buffers may hold the next batch already, and a waiting poll
        would idle the engine for its whole wait once the fetcher is ahead. With
        `buffer_limit` records held it skips polls (for at most `POLL_AT_LEAST_S`), so a
        backlog waits in Kafka rather than in memory. (Pausing the full partitions instead
        can starve a resumed one in kafka-python 3.0.12: the records it had parked for the
        partition are restored only while no other partition's records are in line.)"""
        held = sum(len(buffer) for buffer in self.buffers.values())
        now = time.monotonic()
        if applied and held >= self.buffer_limit and now - self._polled_at < POLL_AT_LEAST_S:
            self.report.polls_skipped += 1
            return
        self._polled_at = now
        fetched = self.consumer.poll(
            timeout_ms=0 if applied else POLL_WAIT_MS, max_records=self.batch_size)
        for tp, records in fetched.items():
            if tp in self.buffers:
                rank = self.rank.get(tp.topic, 9)
                self.buffers[tp].extend(
                    buffered(r.value, r.headers, rank, tp.topic, tp.partition, r.offset)
                    for r in records
                )
                held += len(records)
                self._last_record = time.monotonic()
                if self.drain is not None:
                    self.drain.reset()
        if held > self.report.peak_buffered:
            self.report.peak_buffered = held

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

    def _merge(self) -> list[Inbound]:
        """Records in event-time order, as long as no lagging partition could still hold
        an earlier one (a caught-up partition does not hold the merge back)."""
        if any(self._lagging(tp) for tp, buffer in self.buffers.items() if not buffer):
            return []
        heads = [(b[0].key, tp) for tp, b in self.buffers.items() if b]
        heapq.heapify(heads)
        merged: list[Inbound] = []
        while heads and len(merged) < self.batch_size:
            _, tp = heapq.heappop(heads)
            buffer = self.buffers[tp]
            merged.append(buffer.popleft().inbound)
            if buffer:
                heapq.heappush(heads, (buffer[0].key, tp))
            elif self._lagging(tp):
                break  # its next record, still unread, may be earlier than the other heads
        return merged

    def _lagging(self, tp: TopicPartition) -> bool:
        """Records may remain unread. Until a fetch has told the partition's high watermark,
        it counts as lagging: the broker's list-offsets answer is not relied on (Tansu's
        can be short of the log end)."""
        highwater = self.consumer.highwater(tp)
        return highwater is None or self.consumer.position(tp) < highwater

    def _caught_up(self) -> bool:
        return not any(self.buffers.values()) and not any(
            self._lagging(tp) for tp in self.buffers
        )

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
