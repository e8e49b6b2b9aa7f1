"""A drain that means drained: whether the whole consumer group has consumed every
partition of the inbound topics, whichever member owns what."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Unconsumed:
    """A partition whose stored offset is short of its end."""

    topic: str
    partition: int
    stored: int
    end: int

    def __str__(self) -> str:
        return f"{self.topic}[{self.partition}] at offset {self.stored} of {self.end}"


class DrainWatch:
    """Asked by an idle member: may it stop? Yes once no partition is left unconsumed; also
    once `patience` seconds have passed without the group consuming any more of what is
    left (a member that died still holds partitions until the group evicts it, which
    takes a session timeout and a rebalance), with what was left as the reason."""

    def __init__(
        self, unconsumed: Callable[[], list[Unconsumed]], *, patience: float,
        every: float = 1.0, clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.unconsumed = unconsumed
        self.patience = patience
        self.every = every
        self.clock = clock
        self.left: list[Unconsumed] = []
        self._asked: float | None = None
        self._least: int | None = None  # the fewest records seen left
        self._progressed = 0.0

    def may_stop(self) -> bool:
        now = self.clock()
        if self._asked is not None and now - self._asked < self.every:
            return False
        self._asked = now
        self.left = self.unconsumed()
        if not self.left:
            return True
        remaining = sum(u.end - u.stored for u in self.left)
        if self._least is None or remaining < self._least:
            self._least, self._progressed = remaining, now
        return now - self._progressed >= self.patience

    def reset(self) -> None:
        """Records arrived or were applied: the next idle spell starts afresh."""
        self._asked = self._least = None
        self.left = []
