"""`smsledger history ID [--as-of T]`: an aggregate's events and its state as of a time."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from smsledger.domain import ids
from smsledger.domain.account import Account
from smsledger.domain.order import Order
from smsledger.domain.refund import RefundRequest
from smsledger.infra.stores.selection import OpenStore
from smsledger.projections.formats import iso

_SKIP = {"originator_id", "originator_version", "timestamp", "originator_topic"}


def find_events(opened: OpenStore, ref: str) -> tuple[str, UUID, list[Any]]:
    """The events of the order, account or refund request called `ref`."""
    for kind, make in (("order", ids.order_id), ("account", ids.account_id),
                       ("refund request", ids.refund_request_id)):
        aggregate_id = make(ref)
        events = list(opened.app.events.get(aggregate_id))
        if events:
            return kind, aggregate_id, events
    raise LookupError(f"no order, account or refund request called {ref!r}")


def event_rows(events: list[Any], as_of: datetime | None) -> list[dict[str, Any]]:
    rows = []
    for event in events:
        if as_of is not None and event.timestamp > as_of:
            break
        details = {k: v for k, v in vars(event).items() if k not in _SKIP}
        rows.append({
            "version": event.originator_version,
            "at": iso(event.timestamp),
            "event": type(event).__qualname__,
            "details": ", ".join(f"{k}={_show(v)}" for k, v in details.items()),
        })
    return rows


def _show(value: Any) -> str:
    if isinstance(value, datetime):
        return iso(value) or ""
    return str(value)


def state_as_of(events: list[Any], as_of: datetime | None) -> dict[str, Any]:
    aggregate: Any = None
    for event in events:
        if as_of is not None and event.timestamp > as_of:
            break
        aggregate = event.mutate(aggregate)
    if aggregate is None:
        return {}
    if isinstance(aggregate, Order):
        return {
            "order": aggregate.order, "account": aggregate.account, "state": aggregate.state,
            "price": aggregate.price, "provider": aggregate.provider,
            "charged": aggregate.charged, "released": aggregate.released,
            "deadline": iso(aggregate.deadline), "reason": aggregate.reason,
        }
    if isinstance(aggregate, Account):
        return {"account": aggregate.account, "status": aggregate.status,
                **aggregate.balances(), "open_orders": sorted(aggregate.holds)}
    if isinstance(aggregate, RefundRequest):
        return {"request": aggregate.request, "account": aggregate.account,
                "status": aggregate.status, "amount": aggregate.amount, "rules": aggregate.rules,
                "policy": aggregate.policy}
    return {}
