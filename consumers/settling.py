"""Event time in the engine: the watermark, the deadlines it tracks, and settling every
deadline a time has overtaken, at the deadline's own time.

Before a message is applied, the deadlines it has overtaken are settled first (its
order's, and those of its account's other orders and refund requests), so that the outcome
never depends on how far the watermark happens to have moved.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Protocol
from uuid import UUID

from smsledger.domain import ledger
from smsledger.domain.account import Account
from smsledger.domain.order import Order
from smsledger.domain.refund import RefundRequest

from .counts import Counts
from .messages import Message
from .schedule import Deadlines

_DEADLINE_KINDS: dict[type, str] = {Order: "order", RefundRequest: "request"}


class Aggregates(Protocol):
    """The aggregates as the engine holds them: the batch in hand over the store."""

    def aggregate(self, aggregate_id: UUID) -> Account | Order | RefundRequest | None: ...

    def account(self, ref: str) -> Account | None: ...

    def order(self, ref: str) -> Order | None: ...

    def refund(self, ref: str) -> RefundRequest | None: ...

    def touch(self, *aggregates: Account | Order | RefundRequest) -> None: ...


def _in_order(refs: Collection[str]) -> list[str]:
    """A sorted copy: settling never depends on insertion order, and it removes holds
    from the very collection it was given."""
    return list(refs) if len(refs) < 2 else sorted(refs)


class Settling:
    """The watermark and the deadlines one engine tracks, and their settling."""

    def __init__(
        self, aggregates: Aggregates, counts: Counts, *, watermark: datetime | None,
        tracks_every_deadline: bool,
    ) -> None:
        self.aggregates = aggregates
        self.counts = counts
        self.watermark = watermark
        self.deadlines = Deadlines()
        # A single writer tracks the deadline of every aggregate; a member of a consumer
        # group only those of its own accounts.
        self._tracks_every_deadline = tracks_every_deadline

    def track(
        self, aggregate: Account | Order | RefundRequest
    ) -> tuple[str, datetime | None, str] | None:
        """Note the aggregate's deadline; the journal row to write if it changed."""
        kind = _DEADLINE_KINDS.get(type(aggregate))
        if kind is None:
            return None
        due = aggregate.deadline  # type: ignore[union-attr]
        if self.deadlines.set(aggregate.id, kind, due):
            return (kind, due, aggregate.account)  # type: ignore[union-attr]
        return None

    def advance(self, watermark: datetime) -> bool:
        """Move the watermark forward and settle every tracked deadline it has passed;
        True if it moved."""
        if self.watermark is not None and watermark <= self.watermark:
            return False
        self.watermark = watermark
        while (due := self.deadlines.pop_before(watermark)) is not None:
            self.expire(*due)
        return True

    def all_settled_before(self, message: Message, moved: bool) -> bool:
        """True if no deadline before the message's time can still be open. For a writer
        that tracks every deadline: when the message moved the watermark (which settled
        them), or when none it tracks falls before the message's time."""
        return self._tracks_every_deadline and (
            moved or not self.deadlines.any_before(message.at))

    def expire(self, kind: str, aggregate_id: UUID) -> None:
        aggregate = self.aggregates.aggregate(aggregate_id)
        if isinstance(aggregate, Order) and not aggregate.is_final:
            account = self.aggregates.account(aggregate.account)
            assert account is not None, f"order {aggregate.order} has no account"
            ledger.expire_order(aggregate, account)
            self.aggregates.touch(aggregate, account)
            self.counts.expired += 1
        elif isinstance(aggregate, RefundRequest) and aggregate.deadline is not None:
            account = self.aggregates.account(aggregate.account)
            assert account is not None, f"refund {aggregate.request} has no account"
            ledger.expire_refund(aggregate, account)
            self.aggregates.touch(aggregate, account)
            self.counts.expired += 1

    def settle_overtaken(self, message: Message) -> None:
        """Deadlines before this message's time, of its order and its account, go first."""
        at, data, find = message.at, message.data, self.aggregates
        order_ref = data.get("order")
        order = find.order(order_ref) if order_ref else None
        if order is not None and order.deadline is not None and order.deadline < at:
            self.expire("order", order.id)
        request_ref = data.get("request")
        refund = find.refund(request_ref) if request_ref else None
        account_ref = (
            data.get("account")
            or (order.account if order else None)
            or (refund.account if refund else None)
        )
        account = find.account(account_ref) if account_ref else None
        if account is None:
            return
        for ref in _in_order(account.holds):
            held = find.order(ref)
            if held is not None and held.deadline is not None and held.deadline < at:
                self.expire("order", held.id)
        for ref in _in_order(account.pending_refunds):
            refund = find.refund(ref)
            if refund is not None and refund.deadline is not None and refund.deadline < at:
                self.expire("request", refund.id)
