"""Messages about orders or refund requests that are not known yet, waiting for them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime

from .counts import Counts
from .journal import Batch, Parked


class ParkingLot:
    """Parked messages by the order or refund request they wait for."""

    def __init__(self) -> None:
        self._waiting: dict[tuple[str, str], dict[str, Parked]] = defaultdict(dict)
        self._floor: datetime | None = None  # no parked message is older (None: unknown)

    def add(self, parked: Parked) -> None:
        self._waiting[(parked.kind, parked.subject)][parked.message_id] = parked
        if self._floor is not None:
            self._floor = min(self._floor, parked.at)

    def release(self, kind: str, subject: str) -> list[Parked]:
        """Take out everything waiting for this order or request, oldest first."""
        waiting = self._waiting.pop((kind, subject), None)
        if not waiting:
            return []
        return sorted(waiting.values(), key=lambda p: (p.at, p.message_id))

    def older_than(self, limit: datetime) -> list[Parked]:
        """Take out what has waited since before `limit`; while the oldest known is not
        that old, nothing is scanned (this runs whenever the watermark moves)."""
        if not self._waiting:
            return []
        oldest = self._floor
        if oldest is None:
            oldest = min((p.at for w in self._waiting.values() for p in w.values()), default=None)
        if oldest is None or oldest >= limit:
            self._floor = oldest
            return []
        taken = self._take(lambda p: p.at < limit)
        self._floor = None
        return taken

    def take_all(self) -> list[Parked]:
        return self._take(lambda p: True)

    def _take(self, condition: Callable[[Parked], bool]) -> list[Parked]:
        taken = []
        for key in list(self._waiting):
            waiting = self._waiting[key]
            for message_id, parked in list(waiting.items()):
                if condition(parked):
                    del waiting[message_id]
                    taken.append(parked)
            if not waiting:
                del self._waiting[key]
        return taken


class Parking:
    """One engine's parked messages, and what the batch in hand writes about them: each
    message parked, released or taken out is journalled with that batch."""

    def __init__(self, counts: Counts) -> None:
        self.counts = counts
        self.lot = ParkingLot()

    def restore(self, parked: Parked) -> None:
        """A message parked by an earlier batch, read back from the journal."""
        self.lot.add(parked)

    def park(self, batch: Batch, parked: Parked) -> None:
        self.counts.parked += 1
        self.lot.add(parked)
        batch.parked[parked.message_id] = parked

    def release(self, batch: Batch, kind: str, subject: str) -> list[Parked]:
        """What waited for this order or refund request, oldest first, out of the lot."""
        return self._taken(batch, self.lot.release(kind, subject))

    def older_than(self, batch: Batch, limit: datetime) -> list[Parked]:
        return self._taken(batch, self.lot.older_than(limit))

    def take_all(self, batch: Batch) -> list[Parked]:
        return self._taken(batch, self.lot.take_all())

    def _taken(self, batch: Batch, taken: list[Parked]) -> list[Parked]:
        for parked in taken:
            self.counts.parked -= 1
            if batch.parked.pop(parked.message_id, None) is None:
                batch.unparked.add(parked.message_id)
        return taken

