"""Domain services: the decisions that change an order, its account and refund requests together.

Every function validates first and only then triggers events, so a refusal leaves every
aggregate untouched. The caller saves all returned aggregates in one transaction.
"""

from __future__ import annotations

from datetime import datetime

from . import ids
from .account import Account
from .errors import CurrencyMismatch, NotOwner, Refused
from .order import Order
from .policies import (
    ACCOUNT_BLOCKED,
    DETAILS_MISSING,
    ORDER_NUMBER_ALREADY_USED,
    Policy,
    add_working_days,
    decide_order_refund,
    decide_refund,
)
from .refund import RefundRequest


def open_account(
    existing: Account | None, *, account: str, currency: str, eu_consumer: bool, at: datetime
) -> Account:
    if existing is not None:
        existing.register(currency=currency, eu_consumer=eu_consumer, at=at)
        return existing
    return Account.open(
        id=ids.account_id(account), account=account, currency=currency,
        eu_consumer=eu_consumer, registered=True, at=at,
    )


def deposit(
    existing: Account | None, *, account: str, deposit: str, amount: int, currency: str,
    method: str, at: datetime, policy: Policy,
) -> Account:
    if existing is None:
        existing = Account.open(
            id=ids.account_id(account), account=account, currency=currency,
            eu_consumer=False, registered=False, at=at,
        )
    elif existing.currency != currency:
        raise CurrencyMismatch(existing.currency, currency)
    existing.deposit(deposit=deposit, amount=amount, method=method, at=at)
    _waiver_by_conduct(existing, "deposit", at, policy)
    return existing


def accept_waiver(account: Account, *, at: datetime, policy: Policy) -> None:
    if account.waiver is not None:
        raise Refused("waiver_already_recorded", f"account {account.account} waived already")
    account.record_waiver(trigger="explicit", policy=policy.ref, at=at)


def _waiver_by_conduct(account: Account, trigger: str, at: datetime, policy: Policy) -> None:
    if policy.eu_waiver_by_conduct and account.eu_consumer:
        account.record_waiver(trigger=trigger, policy=policy.ref, at=at)


def place_order(
    account: Account | None, *, order: str, account_ref: str, service: str, country: str,
    price: int, at: datetime, policy: Policy,
) -> Order:
    """Hold the price and open the order, or record the order as rejected."""
    fields = dict(
        id=ids.order_id(order), order=order, account=account_ref, service=service,
        country=country, price=price, at=at,
    )
    refusal = "unknown_account" if account is None else account.refusal_to_hold(price)
    if refusal is not None or account is None:
        return Order.reject(**fields, reason=refusal or "unknown_account")
    placed = Order.request(**fields, window=policy.activation_window, policy=policy.ref)
    account.hold(order=order, amount=price, at=at)
    _waiver_by_conduct(account, "order", at, policy)
    return placed


def check_owner(order: Order, account: str) -> None:
    if order.account != account:
        raise NotOwner(account, order.order)


def complete(order: Order, account: Account, *, at: datetime, by: str) -> None:
    order.complete(at=at, by=by)
    account.capture(order=order.order, amount=order.charged, at=at)


def expire_order(order: Order, account: Account) -> None:
    """The window ended (at the order's own deadline): fail, time out or complete."""
    order.expire()
    _settle(order, account)


def _settle(order: Order, account: Account) -> None:
    at = order.modified_on
    if order.state == "completed":
        account.capture(order=order.order, amount=order.charged, at=at)
    else:
        account.release(order=order.order, reason=order.state, at=at)


def fail_order(order: Order, account: Account, *, reason: str, at: datetime) -> None:
    order.fail(reason=reason, at=at)
    _settle(order, account)


def cancel(
    order: Order, account: Account, *, at: datetime, reason: str | None, policy: Policy
) -> None:
    if reason == "number_already_used" and policy.number_already_used_cancels:
        order.cancel(
            at=at, reason=reason, policy=policy.ref, rules=(ORDER_NUMBER_ALREADY_USED,),
            forced=True,
        )
    else:
        order.cancel(at=at, reason=reason or "customer", policy=policy.ref,
                     lock=policy.cancel_lock)
    _settle(order, account)


def report_bad_sms(
    order: Order, account: Account, *, complaint: str, at: datetime, policy: Policy
) -> None:
    """A wrong code or an incomplete text: refunded to the balance when the policy says so."""
    order.check("refund", "no_sms_received")
    decision = decide_order_refund(policy, complaint, order.text_complete)
    if not decision.refund:
        raise Refused("policy_refuses", f"{policy.ref} does not refund {complaint} "
                      f"({decision.rule}), decided on the SMS of order {order.order} "
                      f"event {order.sms_version}", rules=(decision.rule,))
    order.refund(complaint=complaint, at=at, policy=policy.ref, rule=decision.rule)
    _settle(order, account)


def block(
    account: Account, open_orders: list[Order], unpaid_refunds: list[RefundRequest], *,
    reason: str, at: datetime,
) -> None:
    """Blocked: open orders are cancelled and released, and no refund is made (both
    policies), so refunds not yet paid are withdrawn and their money stays on the balance."""
    account.block(reason=reason, at=at)
    _cancel_all(account, open_orders, reason="account_blocked", at=at)
    for refund in unpaid_refunds:
        refund.withdraw(rule=ACCOUNT_BLOCKED, at=at)
        account.release_refund(request=refund.request, amount=refund.amount, at=at)


def close(account: Account, open_orders: list[Order], *, at: datetime) -> None:
    if account.status == "closed":
        raise Refused("account_closed", f"account {account.account} is already closed")
    _cancel_all(account, open_orders, reason="account_closed", at=at)
    account.close(at=at)


def _cancel_all(account: Account, orders: list[Order], *, reason: str, at: datetime) -> None:
    for order in orders:
        order.cancel(at=at, reason=reason, policy="", forced=True)
        _settle(order, account)


def request_refund(
    account: Account, *, request: str, reason: str, requested: int | None,
    details_provided: bool, at: datetime, policy: Policy,
) -> RefundRequest:
    decision = decide_refund(
        policy, account.facts(), reason=reason, requested=requested,
        details_provided=details_provided, now=at,
    )
    refund = RefundRequest.decide(
        id=ids.refund_request_id(request), request=request, account=account.account,
        reason=reason, requested=requested, decision=decision, policy=policy.ref, at=at,
        details_due=at + policy.details_window if policy.details_window else None,
        review_due=add_working_days(at, policy.review_working_days),
        payout_due=at + policy.payout_window if policy.payout_window else None,
    )
    if decision.status != "rejected":
        account.reserve_refund(
            request=request, amount=decision.amount, allocations=refund.allocations,
            policy=policy.ref, at=at,
        )
    return refund


def pay_refund(refund: RefundRequest, account: Account, *, fee: int, at: datetime) -> None:
    refund.pay(fee=fee, at=at)
    account.pay_out_refund(request=refund.request, amount=refund.amount, fee=fee, at=at)


def expire_refund(refund: RefundRequest, account: Account) -> None:
    refund.expire(DETAILS_MISSING)
    account.release_refund(request=refund.request, amount=refund.amount, at=refund.modified_on)
