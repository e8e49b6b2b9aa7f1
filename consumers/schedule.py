"""What the engine settles without a message: deadlines, which of them are its own, and
which clock keeps each account's time."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from .journal import Inbound, Parked

# Which clock keeps a time: a partition number in a consumer group, None for a single
# writer (one clock for everything it reads).
ClockKey = int | None


@dataclass
class Deadlines:
    """A heap of (due, aggregate id) with lazy deletion, mirrored to the journal."""

    heap: list[tuple[datetime, str, UUID]] = field(default_factory=list)
    due: dict[UUID, datetime] = field(default_factory=dict)

    def set(self, aggregate_id: UUID, kind: str, due: datetime | None) -> bool:
        if self.due.get(aggregate_id) == due:
            return False
        if due is None:
            self.due.pop(aggregate_id, None)
        else:
            self.due[aggregate_id] = due
            heapq.heappush(self.heap, (due, kind, aggregate_id))
        return True

    def any_before(self, limit: datetime) -> bool:
        """False only if no deadline falls before `limit`; True may be a replaced entry
        still in the heap, so a True answer means only: look."""
        return bool(self.heap) and self.heap[0][0] < limit

    def pop_before(self, limit: datetime) -> tuple[str, UUID] | None:
        while self.heap and self.heap[0][0] < limit:
            due, kind, aggregate_id = heapq.heappop(self.heap)
            if self.due.get(aggregate_id) == due:
                return kind, aggregate_id
        return None


class Ownership:
    """Which accounts and parked messages this engine may act on without a message, and
    the clocks that settle them.

    A single writer owns everything, and one clock (its `clock.tick`s) keeps time for all
    of it. In a consumer group each member owns the accounts whose messages land on its
    partitions, only those deadlines are its to settle, and each partition has a clock of
    its own: a tick that arrives on one partition moves the time of that partition's
    accounts only.
    """

    def account(self, account: str) -> bool:
        return True

    def parked(self, parked: Parked) -> bool:
        return True

    def clock_of(self, account: str) -> ClockKey:
        """The clock that keeps this account's time."""
        return None

    def clock_of_record(self, inbound: Inbound) -> ClockKey:
        """The clock of the partition this record came from."""
        return None

    def clocks(self) -> list[ClockKey]:
        return [None]
