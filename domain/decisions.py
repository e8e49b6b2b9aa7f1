"""The policies' pure decision functions: which deposits may go back, a refund request's
outcome and the rules behind it, an order complaint's."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .money import Allocation, DepositRecord, allocate_newest_first
from .policies import (
    ACCIDENTAL,
    ACCOUNT_BLOCKED,
    ACCOUNT_CLOSED,
    ALREADY_REFUNDED,
    AMOUNT_CAPPED,
    BALANCE_CAP,
    CRYPTO_FINAL,
    DETAILS_MISSING,
    METHOD_NOT_REFUNDABLE,
    ORDER_CODE_DISPLAYED,
    ORDER_INCOMPLETE_SMS,
    ORDER_SMS_RECEIVED,
    ORDER_WRONG_CODE,
    SPENT_AFTER,
    THIRD_PARTY,
    WINDOW_EXPIRED,
    Policy,
)


@dataclass(frozen=True)
class DepositVerdict:
    """Whether one deposit can go back to its payment method, and which rules say no."""

    deposit: str
    remaining: int
    blocked_by: tuple[str, ...]

    @property
    def eligible(self) -> bool:
        return not self.blocked_by and self.remaining > 0


def deposit_blockers(
    policy: Policy,
    deposit: DepositRecord,
    now: datetime,
    completed_purchase_seq: int,
    last_accepted_seq: int,
) -> tuple[str, ...]:
    """The rule ids that forbid refunding `deposit` at `now` (empty: refundable)."""
    rules: list[str] = []
    if now - deposit.at > policy.deposit_window:
        rules.append(WINDOW_EXPIRED)
    last_spend = completed_purchase_seq if policy.spent_after == "completed" else last_accepted_seq
    if last_spend > deposit.seq:
        rules.append(SPENT_AFTER)
    if policy.crypto_final and deposit.method == "crypto":
        rules.append(CRYPTO_FINAL)
    elif policy.refundable_methods is not None and deposit.method not in policy.refundable_methods:
        rules.append(METHOD_NOT_REFUNDABLE)
    if deposit.remaining <= 0:
        rules.append(ALREADY_REFUNDED)
    return tuple(rules)


@dataclass(frozen=True)
class AccountFacts:
    """What a refund decision needs to know of an account."""

    status: str  # open, blocked, closed
    available: int
    deposits: tuple[DepositRecord, ...]
    completed_purchase_seq: int
    last_accepted_seq: int
    # The orders at those purchase positions: what a `deposit.spent_after` names.
    completed_purchase_order: str | None = None
    last_accepted_order: str | None = None

    def spending_order(self, policy: Policy) -> str | None:
        """The order whose purchase makes earlier deposits `deposit.spent_after`."""
        if policy.spent_after == "completed":
            return self.completed_purchase_order
        return self.last_accepted_order


def account_blockers(facts: AccountFacts) -> tuple[str, ...]:
    if facts.status == "blocked":
        return (ACCOUNT_BLOCKED,)
    if facts.status == "closed":
        return (ACCOUNT_CLOSED,)
    return ()


def deposit_verdicts(policy: Policy, facts: AccountFacts, now: datetime) -> list[DepositVerdict]:
    account_rules = account_blockers(facts)
    return [
        DepositVerdict(
            deposit=d.ref,
            remaining=d.remaining,
            blocked_by=account_rules + deposit_blockers(
                policy, d, now, facts.completed_purchase_seq, facts.last_accepted_seq
            ),
        )
        for d in facts.deposits
    ]


def refundable_now(
    policy: Policy, facts: AccountFacts, now: datetime
) -> tuple[dict[str, int], list[DepositVerdict]]:
    """Per deposit, the amount that could go back now: eligible deposits, capped by balance."""
    verdicts = deposit_verdicts(policy, facts, now)
    eligible = [d for d, v in zip(facts.deposits, verdicts, strict=True) if v.eligible]
    total = min(sum(d.remaining for d in eligible), max(facts.available, 0))
    allocations = allocate_newest_first(eligible, total)
    return {a.deposit: a.amount for a in allocations}, verdicts


@dataclass(frozen=True)
class RefundDecision:
    """The outcome of a refund request at request time."""

    status: str  # approved, awaiting_details, rejected
    amount: int
    allocations: tuple[Allocation, ...]
    rules: tuple[str, ...]
    # What triggered each rule: {"rule": id, ...the deposit, order, amount or reason}.
    triggers: tuple[dict[str, Any], ...] = ()


def decide_refund(
    policy: Policy,
    facts: AccountFacts,
    *,
    reason: str,
    requested: int | None,
    details_provided: bool,
    now: datetime,
) -> RefundDecision:
    """Decide a request to refund deposits to the original payment method."""
    refused = account_blockers(facts) + request_blockers(policy, reason)
    if refused:
        triggers = [{"rule": r, "account_status": facts.status} for r in account_blockers(facts)]
        triggers += [{"rule": r, "reason": reason} for r in request_blockers(policy, reason)]
        return RefundDecision("rejected", 0, (), refused, tuple(triggers))
    per_deposit, verdicts = refundable_now(policy, facts, now)
    total = sum(per_deposit.values())
    blocking = tuple(sorted({rule for v in verdicts for rule in v.blocked_by}))
    eligible_sum = sum(v.remaining for v in verdicts if v.eligible)
    found: dict[str, dict[str, Any]] = {
        BALANCE_CAP: {"available": facts.available, "eligible": eligible_sum}}
    if total <= 0:
        refusing = blocking or (BALANCE_CAP,)
        return RefundDecision("rejected", 0, (), refusing,
                              _triggers(refusing, found, facts, verdicts, policy))
    rules = list(blocking)
    if total < eligible_sum:
        rules.append(BALANCE_CAP)
    amount = total if requested is None else min(requested, total)
    if requested is not None and requested > total:
        rules.append(AMOUNT_CAPPED)
        found[AMOUNT_CAPPED] = {"requested": requested, "refundable": total}
    eligible = [d for d in facts.deposits if per_deposit.get(d.ref)]
    allocations = allocate_newest_first(eligible, amount)
    status = "approved"
    if policy.details_window is not None and not details_provided:
        status = "awaiting_details"
        rules.append(DETAILS_MISSING)
        found[DETAILS_MISSING] = {"details_provided": False}
    return RefundDecision(status, amount, allocations, tuple(rules),
                          _triggers(rules, found, facts, verdicts, policy))


def _triggers(
    rules: Sequence[str], found: dict[str, dict[str, Any]], facts: AccountFacts,
    verdicts: list[DepositVerdict], policy: Policy,
) -> tuple[dict[str, Any], ...]:
    """What triggered each rule: the amounts in `found`, else each deposit the rule blocks
    (and, for `deposit.spent_after`, the later order that spent it)."""
    spender = facts.spending_order(policy)
    triggers: list[dict[str, Any]] = []
    for rule in rules:
        if rule in found:
            triggers.append({"rule": rule, **found[rule]})
            continue
        named = {"order": spender} if rule == SPENT_AFTER and spender else {}
        triggers.extend({"rule": rule, "deposit": v.deposit, **named}
                        for v in verdicts if rule in v.blocked_by)
    return tuple(triggers)


def request_blockers(policy: Policy, reason: str) -> tuple[str, ...]:
    if reason == "third_party_incompatibility":
        return (THIRD_PARTY,)
    if reason == "accidental" and policy.accidental_refused:
        return (ACCIDENTAL,)
    return ()


@dataclass(frozen=True)
class OrderRefundDecision:
    refund: bool
    rule: str


def decide_order_refund(policy: Policy, complaint: str, text_complete: bool) -> OrderRefundDecision:
    """A customer reports a wrong code or an incomplete SMS text after an SMS arrived."""
    if complaint == "wrong_code":
        if policy.refunds_wrong_code:
            return OrderRefundDecision(True, ORDER_WRONG_CODE)
        return OrderRefundDecision(False, ORDER_SMS_RECEIVED)
    if not policy.refunds_incomplete_sms:
        return OrderRefundDecision(False, ORDER_SMS_RECEIVED)
    if text_complete:
        return OrderRefundDecision(False, ORDER_CODE_DISPLAYED)
    return OrderRefundDecision(True, ORDER_INCOMPLETE_SMS)
