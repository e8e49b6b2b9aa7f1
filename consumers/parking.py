"""Messages about orders or refund requests that are not known yet, waiting for them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime

from .counts import Counts
from .journal import Batch, Parked
from .schedule import ClockKey


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
    """One engine's parked messages, by the clock of the partition they came from, and
    what the batch in hand writes about them: each message parked, released or taken out
    is journalled with that batch."""

    def __init__(self, counts: Counts) -> None:
        self.counts = counts
        self.lots: dict[ClockKey, ParkingLot] = defaultdict(ParkingLot)

    def restore(self, key: ClockKey, parked: Parked) -> None:
        """A message parked by an earlier batch, read back from the journal."""
        self.lots[key].add(parked)

    def park(self, batch: Batch, key: ClockKey, parked: Parked) -> None:
        self.counts.parked += 1
        self.lots[key].add(parked)
        batch.parked[parked.message_id] = parked

    def release(self, batch: Batch, kind: str, subject: str) -> list[Parked]:
        """What waited for this order or refund request, oldest first, out of the lots
        (a record its producer could not key by account may sit in another one)."""
        taken = [p for lot in self.lots.values() for p in lot.release(kind, subject)]
        taken.sort(key=lambda p: (p.at, p.message_id))
        return self._taken(batch, taken)

    def older_than(self, batch: Batch, key: ClockKey, limit: datetime) -> list[Parked]:
        lot = self.lots.get(key)
        return self._taken(batch, lot.older_than(limit)) if lot is not None else []

    def take_all(self, batch: Batch) -> list[Parked]:
        taken = [p for lot in self.lots.values() for p in lot.take_all()]
        return self._taken(batch, taken)

    def _taken(self, batch: Batch, taken: list[Parked]) -> list[Parked]:
        for parked in taken:
            self.counts.parked -= 1
            if batch.parked.pop(parked.message_id, None) is None:
                batch.unparked.add(parked.message_id)
        return taken
