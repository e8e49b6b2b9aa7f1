"""The end of an account: blocked by support, or closed (deleted) at the customer's request.

Open orders are settled by what was delivered (`complaints.at_account_end`); a closure
first refunds to the payment method what the deposit rules allow at that moment, through a
refund request of its own, and forfeits only the rest; a deposit arriving after the
closure goes straight back to where it came from.
"""

from __future__ import annotations

from datetime import datetime

from .account import Account
from .complaints import at_account_end
from .decisions import RefundDecision, decide_refund
from .errors import Refused
from .money import Allocation
from .order import Order
from .policies import (
    ACCOUNT_BLOCKED,
    ACCOUNT_CLOSED,
    DEPOSIT_AFTER_CLOSURE,
    Policy,
)
from .refund import RefundRequest
from .settlement import open_request, settle

# Refund requests the engine makes itself are named from this prefix; a customer's request
# may not use it.
ENGINE_REQUEST_PREFIX = "closure:"
CLOSURE_REASON = "account_deletion"
RETURN_REASON = "deposit_after_closure"


def closure_request(account: str) -> str:
    """The refund request an account's closure makes."""
    return f"{ENGINE_REQUEST_PREFIX}{account}"


def returned_deposit_request(account: str, deposit: str) -> str:
    """The refund request that sends a deposit made after the closure back."""
    return f"{ENGINE_REQUEST_PREFIX}{account}:{deposit}"


def block(
    account: Account, open_orders: list[Order], unpaid_refunds: list[RefundRequest], *,
    reason: str, at: datetime, policy: Policy,
) -> None:
    """Blocked: no refund is made (both policies), so refunds not yet paid are withdrawn and
    their money stays on the balance; open orders end by what they delivered."""
    account.block(reason=reason, at=at, policy=policy.ref, rules=(ACCOUNT_BLOCKED,))
    _end_orders(account, open_orders, rule=ACCOUNT_BLOCKED, at=at, policy=policy)
    for refund in unpaid_refunds:
        refund.withdraw(rule=ACCOUNT_BLOCKED, at=at, policy=policy.ref)
        account.release_refund(request=refund.request, amount=refund.amount, at=at)


def close(
    account: Account, open_orders: list[Order], *, at: datetime, policy: Policy
) -> RefundRequest | None:
    """Deleted at the customer's request, a guaranteed refund (sms-service): what the deposit
    rules make refundable now is requested back to the payment method; the rest is
    forfeited. Returns the closure's refund request (None when nothing was available)."""
    if account.status == "closed":
        raise Refused("account_closed", f"account {account.account} is already closed")
    _end_orders(account, open_orders, rule=ACCOUNT_CLOSED, at=at, policy=policy)
    refund: RefundRequest | None = None
    rules: tuple[str, ...] = (ACCOUNT_CLOSED,)
    if account.available > 0:
        decision = decide_refund(
            policy, account.facts(), reason=CLOSURE_REASON, requested=None,
            details_provided=False, now=at,
        )
        refund = open_request(
            account, decision, request=closure_request(account.account),
            reason=CLOSURE_REASON, requested=None, at=at, policy=policy,
        )
        rules += tuple(r for r in decision.rules if r.startswith(("deposit.", "account.")))
    account.close(at=at, policy=policy.ref, rules=rules)
    return refund


def return_deposit(account: Account, *, deposit: str, at: datetime, policy: Policy) -> (
    RefundRequest
):
    """A deposit credited to a closed account is refunded to its payment method at once."""
    amount = account.deposits[deposit].remaining
    decision = RefundDecision(
        "approved", amount, (Allocation(deposit, amount),), (DEPOSIT_AFTER_CLOSURE,)
    )
    return open_request(
        account, decision, request=returned_deposit_request(account.account, deposit),
        reason=RETURN_REASON, requested=amount, at=at, policy=policy,
    )


def _end_orders(
    account: Account, orders: list[Order], *, rule: str, at: datetime, policy: Policy
) -> None:
    reason = rule.replace(".", "_")  # account_blocked, account_closed
    for order in orders:
        ruling = at_account_end(policy, account_rule=rule, state=order.state, code=order.code)
        if ruling.action == "complete":
            order.complete(at=at, by=reason, policy=policy.ref, rules=ruling.rules)
        else:
            order.cancel(at=at, reason=reason, policy=policy.ref, rules=ruling.rules,
                         forced=True)
        settle(order, account)
