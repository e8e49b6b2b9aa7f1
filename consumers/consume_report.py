"""What a Kafka consumer member did, for its summary and its metrics."""

from __future__ import annotations

from dataclasses import dataclass, field

from .drain import Unconsumed


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

