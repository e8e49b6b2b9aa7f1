"""One handler per message type: look up the aggregates, call the domain, touch what changed."""

from __future__ import annotations

from smsledger.domain import ledger
from smsledger.domain.account import Account
from smsledger.domain.closure import ENGINE_REQUEST_PREFIX
from smsledger.domain.errors import Refused
from smsledger.domain.order import Order

from .messages import DEFAULT_CURRENCY, Message
from .outcomes import APPLIED, Context, Handler, Ignored, Outcome, Park, Refusal


def _known_account(ctx: Context, ref: str) -> Account:
    account = ctx.account(ref)
    if account is None:
        raise Refused("unknown_account", f"no account {ref}")
    return account


def account_opened(ctx: Context, msg: Message) -> Outcome:
    d = msg.data
    account = ledger.open_account(
        ctx.account(d["account"]), account=d["account"], currency=d["currency"],
        eu_consumer=d["eu_consumer"], at=msg.at,
    )
    ctx.touch(account)
    return APPLIED


def waiver_accepted(ctx: Context, msg: Message) -> Outcome:
    account = _known_account(ctx, msg.data["account"])
    ledger.accept_waiver(account, at=msg.at, policy=ctx.policy)
    ctx.touch(account)
    return APPLIED


def deposit_succeeded(ctx: Context, msg: Message) -> Outcome:
    d = msg.data
    account = ctx.account(d["account"])
    if account is not None and d["deposit"] in account.deposits:
        return Ignored("duplicate_deposit")
    if d["currency"] != DEFAULT_CURRENCY and (account is None or not account.registered):
        # account.currency_from_opening: only the account.opened decides the currency.
        return Park("account", d["account"])
    account = ledger.deposit(
        account, account=d["account"], deposit=d["deposit"], amount=d["amount"],
        currency=d["currency"], method=d["method"], at=msg.at, policy=ctx.policy,
    )
    returned = ledger.return_if_closed(account, deposit=d["deposit"], at=msg.at,
                                       policy=ctx.policy)
    ctx.touch(account, *([returned] if returned is not None else []))
    return APPLIED


def order_requested(ctx: Context, msg: Message) -> Outcome:
    d = msg.data
    if ctx.order(d["order"]) is not None:
        raise Refused("duplicate_order", f"order {d['order']} exists already")
    account = ctx.account(d["account"])
    order = ledger.place_order(
        account, order=d["order"], account_ref=d["account"], service=d["service"],
        country=d["country"], price=d["price"], at=msg.at, policy=ctx.policy,
    )
    ctx.touch(order, *([account] if account is not None else []))
    if order.state == "rejected":
        return Refusal(order.reason or "rejected", f"order {d['order']} rejected at request")
    return APPLIED


def _provider_order(ctx: Context, msg: Message) -> Order | Outcome:
    order = ctx.order(msg.data["order"])
    if order is None:
        return Park("order", msg.data["order"])
    if order.is_final:
        return Ignored(f"order_{order.state}")
    return order


def number_issued(ctx: Context, msg: Message) -> Outcome:
    order = _provider_order(ctx, msg)
    if not isinstance(order, Order):
        return order
    if order.state != "requested":
        return Ignored("duplicate_issue")
    d = msg.data
    order.issue(
        provider=d["provider"], phone=d["phone"], activation=d["activation"], price=d["price"],
        at=msg.at, window=ctx.policy.activation_window,
    )
    ctx.touch(order)
    return APPLIED


def number_unavailable(ctx: Context, msg: Message) -> Outcome:
    order = _provider_order(ctx, msg)
    if not isinstance(order, Order):
        return order
    account = _known_account(ctx, order.account)
    ledger.fail_order(order, account, reason=msg.data["reason"], at=msg.at)
    ctx.touch(order, account)
    return APPLIED


def sms_delivered(ctx: Context, msg: Message) -> Outcome:
    order = _provider_order(ctx, msg)
    if not isinstance(order, Order):
        return order
    order.receive_sms(text=msg.data["text"], code=msg.data["code"], at=msg.at)
    ctx.touch(order)
    return APPLIED


def _customer_order(ctx: Context, msg: Message) -> tuple[Order, Account] | Park:
    order = ctx.order(msg.data["order"])
    if order is None:
        return Park("order", msg.data["order"])
    ledger.check_owner(order, msg.data["account"])
    return order, _known_account(ctx, order.account)


def another_sms_requested(ctx: Context, msg: Message) -> Outcome:
    found = _customer_order(ctx, msg)
    if isinstance(found, Park):
        return found
    order, _ = found
    order.request_another_sms(at=msg.at)
    ctx.touch(order)
    return APPLIED


def order_completed(ctx: Context, msg: Message) -> Outcome:
    found = _customer_order(ctx, msg)
    if isinstance(found, Park):
        return found
    order, account = found
    ledger.complete(order, account, at=msg.at, by="customer")
    ctx.touch(order, account)
    return APPLIED


def cancel_requested(ctx: Context, msg: Message) -> Outcome:
    found = _customer_order(ctx, msg)
    if isinstance(found, Park):
        return found
    order, account = found
    ledger.cancel(order, account, at=msg.at, reason=msg.data["reason"], policy=ctx.policy)
    ctx.touch(order, account)
    return APPLIED


def cancel_failed(ctx: Context, msg: Message) -> Outcome:
    found = _customer_order(ctx, msg)
    if isinstance(found, Park):
        return found
    order, account = found
    ledger.cancel_failed(order, account, at=msg.at, detail=msg.data["detail"],
                         policy=ctx.policy)
    ctx.touch(order, account)
    return APPLIED


def _bad_sms(complaint: str) -> Handler:
    def handle(ctx: Context, msg: Message) -> Outcome:
        found = _customer_order(ctx, msg)
        if isinstance(found, Park):
            return found
        order, account = found
        ledger.report_bad_sms(order, account, complaint=complaint, at=msg.at, policy=ctx.policy)
        ctx.touch(order, account)
        return APPLIED

    return handle


def refund_requested(ctx: Context, msg: Message) -> Outcome:
    d = msg.data
    if ctx.refund(d["request"]) is not None:
        raise Refused("duplicate_request", f"refund request {d['request']} exists already")
    if d["request"].startswith(ENGINE_REQUEST_PREFIX):
        raise Refused("reserved_request", f"request ids starting {ENGINE_REQUEST_PREFIX!r} "
                      "name the refunds the ledger makes itself")
    account = _known_account(ctx, d["account"])
    refund = ledger.request_refund(
        account, request=d["request"], reason=d["reason"], requested=d["amount"],
        details_provided=d["details_provided"], at=msg.at, policy=ctx.policy,
    )
    ctx.touch(refund, account)
    return APPLIED


def refund_details_provided(ctx: Context, msg: Message) -> Outcome:
    refund = ctx.refund(msg.data["request"])
    if refund is None:
        return Park("request", msg.data["request"])
    refund.provide_details(at=msg.at)
    ctx.touch(refund)
    return APPLIED


def refund_extended(ctx: Context, msg: Message) -> Outcome:
    refund = ctx.refund(msg.data["request"])
    if refund is None:
        return Park("request", msg.data["request"])
    ledger.extend_refund(refund, until=msg.data["until"], reason=msg.data["reason"],
                         at=msg.at, policy=ctx.policy)
    ctx.touch(refund)
    return APPLIED


def refund_paid(ctx: Context, msg: Message) -> Outcome:
    refund = ctx.refund(msg.data["request"])
    if refund is None:
        return Park("request", msg.data["request"])
    if refund.status == "paid":
        return Ignored("already_paid")
    account = _known_account(ctx, refund.account)
    ledger.pay_refund(refund, account, fee=msg.data["fee"], at=msg.at)
    ctx.touch(refund, account)
    return APPLIED


def account_blocked(ctx: Context, msg: Message) -> Outcome:
    account = _known_account(ctx, msg.data["account"])
    orders = ctx.open_orders(account)
    refunds = [r for r in map(ctx.refund, sorted(account.pending_refunds)) if r is not None]
    ledger.block(account, orders, refunds, reason=msg.data["reason"], at=msg.at,
                 policy=ctx.policy)
    ctx.touch(account, *orders, *refunds)
    return APPLIED


def account_closed(ctx: Context, msg: Message) -> Outcome:
    account = _known_account(ctx, msg.data["account"])
    orders = ctx.open_orders(account)
    refund = ledger.close(account, orders, at=msg.at, policy=ctx.policy)
    ctx.touch(account, *orders, *([refund] if refund is not None else []))
    return APPLIED


def clock_tick(ctx: Context, msg: Message) -> Outcome:
    return APPLIED


HANDLERS: dict[str, Handler] = {
    "account.opened": account_opened,
    "waiver.accepted": waiver_accepted,
    "deposit.succeeded": deposit_succeeded,
    "order.requested": order_requested,
    "number.issued": number_issued,
    "number.unavailable": number_unavailable,
    "sms.delivered": sms_delivered,
    "order.another_sms_requested": another_sms_requested,
    "order.completed": order_completed,
    "order.cancel_requested": cancel_requested,
    "order.wrong_code_reported": _bad_sms("wrong_code"),
    "order.incomplete_sms_reported": _bad_sms("incomplete_sms"),
    "order.cancel_failed": cancel_failed,
    "refund.requested": refund_requested,
    "refund.details_provided": refund_details_provided,
    "refund.extended": refund_extended,
    "refund.paid": refund_paid,
    "account.blocked": account_blocked,
    "account.closed": account_closed,
    "clock.tick": clock_tick,
}
