"""Domain services: the decisions that change an order, its account and refund requests together.

Every function validates first and only then triggers events, so a refusal leaves every
aggregate untouched. The caller saves all returned aggregates in one transaction.
"""

from __future__ import annotations

from datetime import datetime

from . import complaints, ids
from .account import Account
from .closure import block as block
from .closure import close as close
from .closure import return_deposit
from .decisions import decide_order_refund, decide_refund
from .errors import CurrencyMismatch, NotOwner, Refused
from .order import Order
from .policies import (
    ACCOUNT_CLOSED,
    DETAILS_MISSING,
    ORDER_CANCEL_LOCK,
    ORDER_NUMBER_ALREADY_USED,
    Policy,
)
from .refund import RefundRequest
from .settlement import open_request
from .settlement import settle as _settle


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


def return_if_closed(
    account: Account, *, deposit: str, at: datetime, policy: Policy
) -> RefundRequest | None:
    """A deposit that reached a closed account goes back to its payment method."""
    if account.status != "closed":
        return None
    return return_deposit(account, deposit=deposit, at=at, policy=policy)


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
    id_ = ids.order_id(order)
    refusal = "unknown_account" if account is None else account.refusal_to_hold(price)
    if refusal is not None or account is None:
        return Order.reject(
            id=id_, order=order, account=account_ref, service=service, country=country,
            price=price, at=at, reason=refusal or "unknown_account",
            currency=None if account is None else account.currency,
        )
    placed = Order.request(
        id=id_, order=order, account=account_ref, service=service, country=country,
        price=price, at=at, window=policy.activation_window, policy=policy.ref,
        cancel_lock=policy.cancel_lock, currency=account.currency,
    )
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
        lock = order.cancel_lock
        order.cancel(at=at, reason=reason or "customer", policy=policy.ref, lock=lock,
                     rules=(ORDER_CANCEL_LOCK,) if lock else ())
    _settle(order, account)


def cancel_failed(
    order: Order, account: Account, *, at: datetime, detail: str, policy: Policy
) -> None:
    """The customer or support reports that the cancel button failed (`complaints`)."""
    if order.is_final:
        order.check("force_cancel")  # refused: order_closed
    ruling = complaints.cancel_failed(policy, sms_count=order.sms_count, code=order.code)
    if ruling.action == "refuse":
        raise Refused(ruling.refusal, f"{policy.ref} does not refund a failed cancel of "
                      f"{order.order} in state {order.state}", rules=ruling.rules)
    lock = order.cancel_lock
    order.cancel(
        at=at, reason="cancel_failed", policy=policy.ref,
        rules=ruling.rules + ((ORDER_CANCEL_LOCK,) if lock else ()),
        forced=ruling.action == "force_cancel", lock=lock, detail=detail,
    )
    _settle(order, account)


def report_bad_sms(
    order: Order, account: Account, *, complaint: str, at: datetime, policy: Policy
) -> None:
    """A wrong code or an incomplete text: refunded to the balance when the policy says so;
    after completion, only within the policy's complaint window (the capture reversed)."""
    if order.state == "completed":
        _complain_after_completion(order, account, complaint=complaint, at=at, policy=policy)
        return
    order.check("refund", "no_sms_received")
    decision = decide_order_refund(policy, complaint, order.text_complete)
    if not decision.refund:
        raise Refused("policy_refuses", f"{policy.ref} does not refund {complaint} "
                      f"({decision.rule}), decided on the SMS of order {order.order} "
                      f"event {order.sms_version}", rules=(decision.rule,))
    order.refund(complaint=complaint, at=at, policy=policy.ref, rule=decision.rule)
    _settle(order, account)


def _complain_after_completion(
    order: Order, account: Account, *, complaint: str, at: datetime, policy: Policy
) -> None:
    late = complaints.late_complaint_refusal(
        policy, account_status=account.status, completed_at=order.completed_at, now=at
    )
    if late is not None:
        raise Refused(late.refusal, f"{policy.ref}: {complaint} about completed {order.order}",
                      rules=late.rules)
    decision = decide_order_refund(policy, complaint, order.text_complete)
    if not decision.refund:
        raise Refused("policy_refuses", f"{policy.ref} does not refund {complaint}",
                      rules=(decision.rule,))
    rules, charged = (decision.rule,), order.charged
    order.reverse_completion(complaint=complaint, at=at, policy=policy.ref, rules=rules)
    account.reverse_capture(order=order.order, amount=charged, at=at, policy=policy.ref,
                            rules=rules)


def request_refund(
    account: Account, *, request: str, reason: str, requested: int | None,
    details_provided: bool, at: datetime, policy: Policy,
) -> RefundRequest:
    decision = decide_refund(
        policy, account.facts(), reason=reason, requested=requested,
        details_provided=details_provided, now=at,
    )
    return open_request(account, decision, request=request, reason=reason,
                        requested=requested, at=at, policy=policy)


def pay_refund(refund: RefundRequest, account: Account, *, fee: int, at: datetime) -> None:
    refund.pay(fee=fee, at=at)
    account.pay_out_refund(request=refund.request, amount=refund.amount, fee=fee, at=at)


def expire_refund(refund: RefundRequest, account: Account) -> None:
    """No payment details in time: the money goes back to the balance, and is forfeited
    when that balance belongs to a closed (deleted) account."""
    refund.expire(DETAILS_MISSING)
    at = refund.modified_on
    account.release_refund(request=refund.request, amount=refund.amount, at=at)
    if account.status == "closed" and refund.amount:
        account.forfeit(amount=refund.amount, request=refund.request, at=at,
                        policy=refund.policy, rules=(DETAILS_MISSING, ACCOUNT_CLOSED))


def extend_refund(
    refund: RefundRequest, *, until: datetime, reason: str, at: datetime, policy: Policy
) -> None:
    """Support moves the payout due time ("the refund period may be extended")."""
    refund.extend(until=until, reason=reason, at=at, policy=policy.ref)
