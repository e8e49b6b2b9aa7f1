"""How much of the inbound topics the consumer group has left: end offsets against the
offsets stored in the event store (the group's own record of what it consumed).

End offsets are the high watermarks a fetch reports: a list-offsets answer is not relied
on (Tansu's can be far short of the log end). A group-less probe consumer fetches each
partition from its stored offset, so it reads only what is still unconsumed, and not
even that when `max_partition_fetch_bytes` stops it after the first batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kafka import TopicPartition

from smsledger.consumers.drain import DrainWatch, Unconsumed
from smsledger.infra.kafka.clients import make_consumer
from smsledger.infra.settings import KafkaSettings

# How long one look may wait for every partition's high watermark.
LOOK_TIMEOUT_S = 10.0


class GroupBacklog:
    """Callable: the inbound partitions whose stored offset is short of the end."""

    def __init__(
        self, kafka: KafkaSettings, stored: Callable[[], dict[tuple[str, int], int]]
    ) -> None:
        self.kafka = kafka
        self.stored = stored

    def __call__(self) -> list[Unconsumed]:
        stored = self.stored()
        ends = self._ends(stored)
        return [
            Unconsumed(tp.topic, tp.partition, stored.get((tp.topic, tp.partition), 0), end)
            for tp, end in sorted(ends.items())
            if stored.get((tp.topic, tp.partition), 0) < end
        ]

    def _ends(self, stored: dict[tuple[str, int], int]) -> dict[TopicPartition, int]:
        # A fresh probe each time: one that fetched before still knows the high
        # watermarks of then, which may be short of the end now.
        probe = make_consumer(
            self.kafka, group_id=None, client_id="smsledger-drain-probe",
            max_partition_fetch_bytes=1024, fetch_max_bytes=64 * 1024,
        )
        try:
            return self._fetched_ends(probe, stored)
        finally:
            probe.close()

    def _fetched_ends(
        self, probe: Any, stored: dict[tuple[str, int], int]
    ) -> dict[TopicPartition, int]:
        partitions = [
            TopicPartition(topic, number)
            for topic in self.kafka.topics.inbound
            for number in sorted(probe.partitions_for_topic(topic) or ())
        ]
        probe.assign(partitions)
        for tp in partitions:
            probe.seek(tp, stored.get((tp.topic, tp.partition), 0))
        deadline = time.monotonic() + LOOK_TIMEOUT_S
        while True:
            probe.poll(timeout_ms=200)
            ends = {tp: probe.highwater(tp) for tp in partitions}
            if all(end is not None for end in ends.values()):
                return ends
            if time.monotonic() > deadline:
                missing = sorted(f"{tp.topic}[{tp.partition}]" for tp, e in ends.items()
                                 if e is None)
                raise RuntimeError(f"no end offset known for {', '.join(missing)} after "
                                   f"{LOOK_TIMEOUT_S:.0f} s")


def drain_watch(
    kafka: KafkaSettings, stored: Callable[[], dict[tuple[str, int], int]],
    stop_when_idle: float,
) -> DrainWatch:
    """Waits for the group as long as a dead member can hold partitions: its session
    timeout, then a rebalance (which may wait max_poll_interval for busy members)."""
    patience = stop_when_idle + (kafka.session_timeout_ms + kafka.max_poll_interval_ms) / 1000
    return DrainWatch(GroupBacklog(kafka, stored), patience=patience)
