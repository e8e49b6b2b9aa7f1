"""What `audit` found: counts, totals and every problem, in the words it prints them."""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from smsledger.infra.audit.chain import ChainReport


@dataclass
class AuditReport:
    events: int = 0
    accounts: int = 0
    orders: int = 0
    totals: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    chain: ChainReport | None = None
    # Aggregates whose events could not all be replayed: left out of the money checks.
    unreadable: set[UUID] = field(default_factory=set)
    policies: set[str] = field(default_factory=set)  # policy@version named by decisions

    @property
    def clean(self) -> bool:
        return not self.problems
