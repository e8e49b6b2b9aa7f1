"""Money: integer minor units, the account's balance buckets, deposits and allocation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

# Anything above this is treated as absurd input, not as money: 10 million in major units.
MAX_AMOUNT = 1_000_000_000

BUCKETS = ("available", "held", "spent", "refund_pending", "refunded_out", "forfeited")


@dataclass
class DepositRecord:
    """One credited deposit, as the account remembers it for refund decisions."""

    ref: str
    amount: int
    method: str
    at: datetime
    seq: int  # the account's version when it was credited: orders events before/after it
    refunded: int = 0

    @property
    def remaining(self) -> int:
        return self.amount - self.refunded


@dataclass(frozen=True)
class Allocation:
    """The part of a refund taken from one deposit."""

    deposit: str
    amount: int


def allocate_newest_first(
    candidates: list[DepositRecord], total: int
) -> tuple[Allocation, ...]:
    """Spread `total` over the deposits, newest first: spending consumes the oldest money."""
    allocations: list[Allocation] = []
    left = total
    for record in sorted(candidates, key=lambda d: d.seq, reverse=True):
        if left <= 0:
            break
        take = min(record.remaining, left)
        if take > 0:
            allocations.append(Allocation(record.ref, take))
            left -= take
    return tuple(allocations)
