"""The Kafka consumer's merge buffers: records polled into one buffer per partition, and
merged from them in the order of `partitions.Buffered` keys."""

from __future__ import annotations

import heapq
import time
from collections import deque
from typing import Any

from kafka import TopicPartition

from .consume_report import ConsumeReport
from .drain import DrainWatch
from .journal import Inbound
from .partitions import Buffered, buffered

# How long a poll may wait for records when the buffers gave nothing to apply.
POLL_WAIT_MS = 200
# Polls are skipped while the buffers are full for at most this long, well inside any
# max_poll_interval (the group evicts a member that has not polled for that long).
POLL_AT_LEAST_S = 1.0


class Merging:
    """Polling and merging for `kafka_consumer.LedgerConsumer`."""

    consumer: Any
    rank: dict[str, int]
    batch_size: int
    buffer_limit: int
    drain: DrainWatch | None
    report: ConsumeReport
    buffers: dict[TopicPartition, deque[Buffered]]
    _last_record: float
    _polled_at: float

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

