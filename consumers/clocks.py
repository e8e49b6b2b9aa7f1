"""The engine's clocks: a partition's clock moving on, the end of the input, a replay's
window edge; each settles deadlines and dead-letters what waited too long."""

from __future__ import annotations

from datetime import datetime, timedelta

from .journal import LOGGED_CLOCK, LOGGED_END, LOGGED_OVER
from .parking import Parking
from .recording import Recording
from .schedule import ClockKey
from .settling import shifted


class Clocks(Recording):
    """Time moved by the clocks rather than by a message (`engine.Engine`)."""

    parking: Parking
    park_limit: timedelta

    def advance_clocks(self, times: dict[ClockKey, datetime]) -> None:
        """The clocks of these partitions reached these times (the wall clock followed
        once everything is read): settle what lies more than the allowed lateness behind
        each. The watermark moves to the latest."""
        for key, at in times.items():
            self._tick(key, at)
            self._watermark_at(at)

    def _tick(self, key: ClockKey, at: datetime, *, by_message: bool = False) -> None:
        """Clock `key` reached `at`: its deadlines, and its messages parked for longer than
        the park limit, up to the allowed lateness behind it, are settled. A move no
        message made that settled something is logged: a replay must move it there too."""
        settled = self._settled_so_far()
        limit = self.settling.tick(key, at)
        if limit is None:
            return
        for parked in self.parking.older_than(self._batch, key, shifted(limit, -self.park_limit)):
            self._dead_letter_parked(parked)
        if not by_message and self._settled_so_far() != settled:
            self._batch.inbound.append((LOGGED_CLOCK, at.isoformat(), None))

    def _settled_so_far(self) -> int:
        return self.counts.expired + self.counts.dead_lettered

    def input_over(self) -> None:
        """The input is over: on each partition, every deadline before its latest event
        time is settled, whatever its clock says (a single writer's: the watermark). Where
        that settled something it is logged, for a replay to settle there too."""
        settled = self._settled_so_far()
        self._settle_input()
        if self._settled_so_far() != settled:
            self._batch.inbound.append((LOGGED_OVER, None, None))

    def _settle_input(self) -> None:
        for key in self.ownership.clocks():
            self.settling.input_over(key)

    def end_of_input(self) -> None:
        """At the end of a finite input: time settled (see `input_over`), and whatever is
        still parked dead-lettered (this input will not bring what it waits for). Where
        that settled or dead-lettered something it is logged, for a replay to end there."""
        settled = self._settled_so_far()
        self._settle_input()
        waiting = self.parking.take_all(self._batch)
        if waiting or self._settled_so_far() != settled:
            self._batch.inbound.append((LOGGED_END, None, None))
        for parked in waiting:
            self._dead_letter_parked(parked)

    def settle_to(self, at: datetime) -> None:
        """Every deadline before `at`, and every message parked since before the park limit
        ahead of it, settled on each clock, none of which moves (a replay's window edge)."""
        for key in self.ownership.clocks():
            self.settling.settle_before(key, at)
            for parked in self.parking.older_than(self._batch, key, shifted(at, -self.park_limit)):
                self._dead_letter_parked(parked)

    def _watermark_at(self, at: datetime) -> None:
        if self.settling.move_watermark(at):
            self._batch.watermark = at
