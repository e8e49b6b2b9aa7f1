"""A clock for tests that moves only when told."""

from __future__ import annotations


class ManualClock:
    """Returns `now`, which the test sets."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
