"""Partitions and the merge key: which partition owns an account, and a fetched record
with the key that orders it among the records of every assigned partition.

A record stamped by `smsledger produce` carries its place in the produced stream (the
run, then the line): stamped records are merged in that order, so topics give exactly what
the file ingest of the produced lines gives, however the lines interleave accounts or run
ahead of or behind one another's event time. Records without a stamp (other producers)
are merged in event-time order, which gives the file's result when each topic-partition
is in event-time order. Unstamped records sort before stamped ones."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from kafka.partitioner.default import murmur2

from .journal import Inbound, Parked
from .messages import DecodeError, Message, decode, parse_time
from .schedule import ClockKey, Ownership

EARLIEST = datetime.min.replace(tzinfo=UTC)
SEQUENCE_HEADER = "smsledger-seq"  # the line's number in its produce run
RUN_HEADER = "smsledger-run"  # the run: when it started, in nanoseconds since the epoch
_UNSTAMPED, _STAMPED = 0, 1

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

    def clock_of(self, account: str) -> ClockKey:
        return partition_of(account, self.partition_count)

    def clock_of_record(self, inbound: Inbound) -> ClockKey:
        return inbound.partition

    def clocks(self) -> list[ClockKey]:
        return list(sorted(self.partitions))


@dataclass(order=True)
class Buffered:
    """A fetched record with its merge key: the producer's stamp (run, line) if it has one,
    else its event time; then the topic rank."""

    key: tuple[Any, ...]
    inbound: Inbound = field(compare=False)


def _readable_time(value: bytes) -> datetime:
    """The `at` of a record that breaks the contract, if it has a readable one; else the
    earliest time, so that it is dead-lettered as soon as it is merged."""
    try:
        return parse_time(orjson.loads(value).get("at"))
    except (orjson.JSONDecodeError, DecodeError, AttributeError):
        return EARLIEST


def stamp(headers: list[tuple[str, bytes]] | None) -> tuple[int, int] | None:
    """(run, line) from a record's headers, or None (no stamp, or one that is not ours)."""
    run, line = 0, None  # a line number alone: a stamp from before runs were stamped
    try:
        for key, value in headers or ():
            if key == SEQUENCE_HEADER:
                line = int(value)
            elif key == RUN_HEADER:
                run = int(value)
    except (TypeError, ValueError):  # a header without a value, or not a number
        return None
    return None if line is None else (run, line)


def buffered(
    value: bytes, headers: list[tuple[str, bytes]] | None, rank: int, topic: str,
    partition: int, offset: int,
) -> Buffered:
    """A record with its merge key, decoded once: the engine applies the message it
    carries."""
    decoded: Message | DecodeError
    value = value or b""  # a record without a value (a tombstone) is a dead letter too
    try:
        decoded = decode(value)
        at = decoded.at
    except DecodeError as error:
        decoded, at = error, _readable_time(value)
    inbound = Inbound(value, topic, partition, offset, decoded)
    stamped = stamp(headers)
    if stamped is None:
        return Buffered((_UNSTAMPED, at, rank), inbound)
    return Buffered((_STAMPED, *stamped, rank), inbound)
