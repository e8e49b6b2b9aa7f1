"""The money side of decisions, shared by the domain services: an order's hold settled by
its new state, and a refund request opened from a decision with its money reserved."""

from __future__ import annotations

from datetime import datetime

from . import ids
from .account import Account
from .decisions import RefundDecision
from .order import Order
from .policies import Policy, add_working_days, refund_route
from .refund import RefundRequest


def settle(order: Order, account: Account) -> None:
    """Capture the hold of a completed order, release it otherwise, at the order's time."""
    at = order.modified_on
    if order.state == "completed":
        account.capture(order=order.order, amount=order.charged, at=at)
    else:
        account.release(order=order.order, reason=order.state, at=at)


def open_request(
    account: Account, decision: RefundDecision, *, request: str, reason: str,
    requested: int | None, at: datetime, policy: Policy,
) -> RefundRequest:
    """The request as decided, with its route and due times; what it grants is reserved."""
    methods = {account.deposits[a.deposit].method for a in decision.allocations}
    refund = RefundRequest.decide(
        id=ids.refund_request_id(request), request=request, account=account.account,
        reason=reason, requested=requested, decision=decision, policy=policy.ref, at=at,
        details_due=at + policy.details_window if policy.details_window else None,
        review_due=add_working_days(at, policy.review_working_days),
        payout_due=at + policy.payout_window if policy.payout_window else None,
        route=refund_route(policy, methods), currency=account.currency,
    )
    if decision.status != "rejected":
        account.reserve_refund(
            request=request, amount=decision.amount, allocations=refund.allocations,
            policy=policy.ref, at=at,
        )
    return refund
