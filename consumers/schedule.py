"""What the engine settles without a message: deadlines, and which of them are its own."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from .journal import Parked


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
    """Which accounts and parked messages this engine may act on without a message.

    A single writer owns everything. In a consumer group each member owns the accounts
    whose messages land on its partitions, and only those deadlines are its to settle.
    """

    def account(self, account: str) -> bool:
        return True

    def parked(self, parked: Parked) -> bool:
        return True
