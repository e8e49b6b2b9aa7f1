"""End offsets of the inbound topics' partitions, and the offsets a group committed to Kafka
(a hint only: the ledger stores its own with the events), for `smsledger status`."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from kafka import TopicPartition
from kafka.errors import KafkaError

from smsledger.infra.kafka.clients import BrokerUnavailable, make_admin, make_consumer
from smsledger.infra.settings import KafkaSettings

TIMEOUT_MS = 10_000


def end_offsets(settings: KafkaSettings, topics: Iterable[str],
                start: dict[tuple[str, int], int] | None = None) -> dict[tuple[str, int], int]:
    """(topic, partition) -> end offset of every partition of these topics (those that
    exist). The end is the high watermark of a fetch from `start` (the stored offsets), as
    the consumer reads it: a broker's list-offsets answer is not relied on (Tansu's can be
    short of the log end). Fetches are capped at a few bytes: only the watermark is read."""
    consumer = make_consumer(settings, group_id=None, max_partition_fetch_bytes=1,
                             fetch_max_bytes=1)
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in sorted(set(topics))
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        if not partitions:
            return {}
        consumer.assign(partitions)
        for tp in partitions:
            consumer.seek(tp, (start or {}).get((tp.topic, tp.partition), 0))
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        while any(consumer.highwater(tp) is None for tp in partitions):
            if time.monotonic() > deadline:
                raise BrokerUnavailable(
                    f"Kafka at {settings.bootstrap}: no end offsets within {TIMEOUT_MS} ms")
            consumer.poll(timeout_ms=200, max_records=1)
        return {(tp.topic, tp.partition): int(consumer.highwater(tp)) for tp in partitions}
    except KafkaError as error:
        raise BrokerUnavailable(f"Kafka at {settings.bootstrap}: {error}") from None
    finally:
        consumer.close()


def committed_offsets(settings: KafkaSettings) -> dict[tuple[str, int], int]:
    """(topic, partition) -> what the consumer group committed to Kafka."""
    admin = make_admin(settings)
    try:
        found: Any = admin.list_group_offsets(settings.group_id).get(settings.group_id, {})
        return {(tp.topic, tp.partition): int(meta.offset) for tp, meta in found.items()
                if meta.offset >= 0}
    except KafkaError as error:
        raise BrokerUnavailable(f"Kafka at {settings.bootstrap}: {error}") from None
    finally:
        admin.close()


def partition_lag(stored: dict[tuple[str, int], int], ends: dict[tuple[str, int], int],
                  committed: dict[tuple[str, int], int]) -> list[dict[str, Any]]:
    """Per partition: the end offset, the ledger's stored offset, Kafka's committed hint and
    the lag (end minus stored; a partition never stored counts from 0)."""
    return [
        {"topic": topic, "partition": partition, "end": end,
         "stored": stored.get((topic, partition)),
         "committed": committed.get((topic, partition)),
         "lag": max(end - stored.get((topic, partition), 0), 0)}
        for (topic, partition), end in sorted(ends.items())
    ]
