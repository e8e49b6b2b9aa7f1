"""Hooks of the Kafka consumer's loop, for metrics, logs and health watches: the loop calls
them and knows nothing of what they do. Every hook here does nothing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .journal import Batch

# The `kafka_consumer.LedgerConsumer` (not imported: it imports this module).
LedgerConsumer = Any


class ConsumerObserver:
    """Told what the consumer does; may stop it (`consumer.stop()`) from `turn`."""

    def turn(self, consumer: LedgerConsumer) -> None:
        """Once per turn of the loop (at least every poll wait)."""

    def may_idle(self) -> bool:
        """False while `--stop-when-idle` must not count the time as idle (e.g. the broker
        is unreachable: nothing arriving then says nothing about the stream)."""
        return True

    def committed(self, consumer: LedgerConsumer, batch: Batch) -> None:
        """A transaction committed (a batch of records, or the clock moving on)."""

    def applied(self, consumer: LedgerConsumer, records: int, seconds: float) -> None:
        """A batch of `records` was processed and committed in `seconds`."""

    def assigned(self, consumer: LedgerConsumer, partitions: Sequence[Any]) -> None:
        """The group gave this member these partitions (their state is re-read)."""

    def revoked(self, consumer: LedgerConsumer, partitions: Sequence[Any]) -> None:
        """These partitions were taken away for a rebalance."""


class Observers(ConsumerObserver):
    """Several observers, told in order."""

    def __init__(self, *observers: ConsumerObserver) -> None:
        self.observers = observers

    def turn(self, consumer: LedgerConsumer) -> None:
        for observer in self.observers:
            observer.turn(consumer)

    def may_idle(self) -> bool:
        return all(observer.may_idle() for observer in self.observers)

    def committed(self, consumer: LedgerConsumer, batch: Batch) -> None:
        for observer in self.observers:
            observer.committed(consumer, batch)

    def applied(self, consumer: LedgerConsumer, records: int, seconds: float) -> None:
        for observer in self.observers:
            observer.applied(consumer, records, seconds)

    def assigned(self, consumer: LedgerConsumer, partitions: Sequence[Any]) -> None:
        for observer in self.observers:
            observer.assigned(consumer, partitions)

    def revoked(self, consumer: LedgerConsumer, partitions: Sequence[Any]) -> None:
        for observer in self.observers:
            observer.revoked(consumer, partitions)
