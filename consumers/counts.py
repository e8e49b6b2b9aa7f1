"""The tally of what an engine did with the messages it was given."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Counts:
    applied: int = 0
    rejected: int = 0
    ignored: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    parked: int = 0
    expired: int = 0
    late: int = 0  # applied, rejected or ignored behind its partition's clock (see settling)

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))
