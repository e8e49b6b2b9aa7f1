"""Partitions and the merge key: which partition owns an account, and a fetched record
with the key that orders it among the records of every assigned partition."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from kafka.partitioner.default import murmur2

from .journal import Inbound, Parked
from .messages import DecodeError, Message, decode, parse_time
from .schedule import Ownership

EARLIEST = datetime.min.replace(tzinfo=UTC)
SEQUENCE_HEADER = "smsledger-seq"

def partition_of(key: str, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a message keyed by `key`."""
    hashed: int = murmur2(key.encode())  # kafka-python is untyped
    return (hashed & 0x7FFFFFFF) % partitions


class PartitionOwnership(Ownership):
    def __init__(self, partitions: set[int], partition_count: int) -> None:
        self.partitions = partitions
        self.partition_count = partition_count

    def account(self, account: str) -> bool:
        return partition_of(account, self.partition_count) in self.partitions

    def parked(self, parked: Parked) -> bool:
        return parked.inbound.partition in self.partitions


@dataclass(order=True)
class Buffered:
    """A fetched record with its merge key: event time, then producer sequence, topic rank."""

    key: tuple[Any, ...]
    inbound: Inbound = field(compare=False)


def _readable_time(value: bytes) -> datetime:
    """The `at` of a record that breaks the contract, if it has a readable one; else the
    earliest time, so that it is dead-lettered as soon as it is merged."""
    try:
        return parse_time(orjson.loads(value).get("at"))
    except (orjson.JSONDecodeError, DecodeError, AttributeError):
        return EARLIEST


def buffered(
    value: bytes, headers: list[tuple[str, bytes]] | None, rank: int, topic: str,
    partition: int, offset: int,
) -> Buffered:
    """A record with its merge key (event time, producer sequence, topic rank), decoded
    once: the engine applies the message it carries."""
    decoded: Message | DecodeError
    value = value or b""  # a record without a value (a tombstone) is a dead letter too
    try:
        decoded = decode(value)
        at = decoded.at
    except DecodeError as error:
        decoded, at = error, _readable_time(value)
    sequence = next((_sequence(v) for k, v in headers or () if k == SEQUENCE_HEADER), -1)
    return Buffered((at, sequence, rank), Inbound(value, topic, partition, offset, decoded))


def _sequence(header: bytes | None) -> int:
    """The producer sequence of a record; an unreadable header counts as none."""
    text = (header or b"").strip()
    return int(text) if text.isdigit() and len(text) < 19 else -1
