"""The aggregates as the handlers see them in a batch: the batch's own versions over the
store's; and reading a batch of records into messages."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from smsledger.domain import ids
from smsledger.domain.account import Account
from smsledger.domain.order import Order
from smsledger.domain.policies import Policy
from smsledger.domain.refund import RefundRequest

from .journal import Batch, Inbound, LedgerStore
from .messages import DecodeError, Message, decode
from .settling import Settling

_REFERENCES = (("account", ids.account_id), ("order", ids.order_id),
               ("request", ids.refund_request_id))


def referenced_ids(messages: Iterable[Message]) -> list[UUID]:
    found = []
    for message in messages:
        for key, make in _REFERENCES:
            ref = message.data.get(key)
            if ref is not None:
                found.append(make(ref))
    return found


def decoded_records(records: Iterable[Inbound]) -> list[tuple[Inbound, Message | DecodeError]]:
    decoded: list[tuple[Inbound, Message | DecodeError]] = []
    for inbound in records:
        if inbound.decoded is not None:
            decoded.append((inbound, inbound.decoded))
            continue
        try:
            decoded.append((inbound, decode(inbound.raw)))
        except DecodeError as error:
            decoded.append((inbound, error))
    return decoded


class BatchContext:
    """The Context the handlers see (`outcomes.Context`): aggregates looked up in the batch
    in hand, then in the store; what a handler touches joins the batch, its deadline noted."""

    store: LedgerStore
    policy: Policy
    settling: Settling
    _batch: Batch

    def account(self, ref: str) -> Account | None:
        return self.aggregate(ids.account_id(ref))  # type: ignore[return-value]

    def order(self, ref: str) -> Order | None:
        return self.aggregate(ids.order_id(ref))  # type: ignore[return-value]

    def refund(self, ref: str) -> RefundRequest | None:
        return self.aggregate(ids.refund_request_id(ref))  # type: ignore[return-value]

    def open_orders(self, account: Account) -> list[Order]:
        found = [self.order(ref) for ref in account.holds]
        return [o for o in found if o is not None and not o.is_final]

    def touch(self, *aggregates: Account | Order | RefundRequest) -> None:
        pending, deadlines = self._batch.aggregates, self._batch.deadlines
        for aggregate in aggregates:
            pending[aggregate.id] = aggregate
            changed = self.settling.track(aggregate)
            if changed is not None:
                deadlines[aggregate.id] = changed

    def aggregate(self, aggregate_id: UUID) -> Account | Order | RefundRequest | None:
        """The batch's version of an aggregate, else the store's."""
        pending = self._batch.aggregates.get(aggregate_id)
        if pending is not None:
            return pending  # type: ignore[return-value]
        return self.store.get(aggregate_id)  # type: ignore[return-value]
