"""The two refund policies as versioned data plus small pure decision functions.

Each rule id below names a clause of a policy text in `shared/policies/`; every decision
event records `policy.ref` and the ids of the rules that decided it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from .money import Allocation, DepositRecord, allocate_newest_first

# Rule ids (DESIGN §5), plus the order-level and account-level ones this engine adds.
WINDOW_EXPIRED = "deposit.window_expired"
SPENT_AFTER = "deposit.spent_after"
CRYPTO_FINAL = "deposit.crypto_final"
METHOD_NOT_REFUNDABLE = "deposit.method_not_refundable"
ALREADY_REFUNDED = "deposit.already_refunded"
ACCIDENTAL = "request.accidental"
THIRD_PARTY = "request.third_party"
DETAILS_MISSING = "request.details_missing"
AMOUNT_CAPPED = "request.amount_capped"
BALANCE_CAP = "balance.cap"
ACCOUNT_BLOCKED = "account.blocked"
ACCOUNT_CLOSED = "account.closed"
EU_WAIVER = "eu.waiver_recorded"
ORDER_WRONG_CODE = "order.wrong_code"
ORDER_INCOMPLETE_SMS = "order.incomplete_sms"
ORDER_SMS_RECEIVED = "order.sms_received"
ORDER_CODE_DISPLAYED = "order.code_displayed"
ORDER_NUMBER_ALREADY_USED = "order.number_already_used"
ORDER_CODE_DELIVERED = "order.code_delivered"
ORDER_SMS_NOT_RECEIVED = "order.sms_not_received"
ORDER_CANCEL_ERROR = "order.cancel_error"
ORDER_CANCEL_LOCK = "order.cancel_lock"
ORDER_COMPLAINT_WINDOW = "order.complaint_window"
DEPOSIT_AFTER_CLOSURE = "deposit.after_closure"
REQUEST_EXTENDED = "request.period_extended"

# Where a refund to the payment method is paid: back through the method the deposits were
# paid with, or by an alternative the support offers ("not all payment methods support
# refunds ... we will offer alternative refund options").
ROUTE_ORIGINAL = "original_method"
ROUTE_ALTERNATIVE = "alternative"

REFUND_REASONS = ("service_problem", "accidental", "third_party_incompatibility", "other")

# The effective date of a policy built in code rather than read from its file: always.
SINCE_EVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Policy:
    """Parameters and switches of one refund policy text, at one version."""

    name: str
    version: str
    # Event time from which this version decides (until the next version's).
    effective_from: datetime = SINCE_EVER
    activation_window: timedelta = timedelta(minutes=20)
    cancel_lock: timedelta = timedelta(0)
    deposit_window: timedelta = timedelta(days=7)
    # Only deposits of these methods can go back to the payment method (None: any).
    refundable_methods: frozenset[str] | None = None
    crypto_final: bool = False
    # "completed": an order bought after a deposit and completed blocks it;
    # "accepted": any order accepted after it does.
    spent_after: str = "completed"
    accidental_refused: bool = False
    details_window: timedelta | None = None
    review_working_days: int = 2
    payout_window: timedelta | None = None
    refunds_wrong_code: bool = False
    refunds_incomplete_sms: bool = False
    number_already_used_cancels: bool = False
    eu_waiver_by_conduct: bool = False
    # How long after completion a wrong-code or incomplete-SMS report still reverses the
    # capture (None: never; the complaint must come while the order is open).
    complaint_window: timedelta | None = None
    # A reported failure of the cancel button releases the hold from any open state
    # without a code (else only as an ordinary cancel, before any SMS arrived).
    refunds_cancel_error: bool = False
    # Deposit methods a refund can be paid back through; the others go an alternative way.
    original_route_methods: frozenset[str] = frozenset({"card"})

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


SMS_SERVICE = Policy(
    name="sms-service",
    version="1",
    spent_after="completed",
    accidental_refused=True,
    details_window=timedelta(days=14),
    payout_window=timedelta(days=14),
    refunds_wrong_code=True,
    refunds_incomplete_sms=True,
    number_already_used_cancels=True,
    complaint_window=timedelta(hours=24),
    refunds_cancel_error=True,
)

ONE_THOUSAND_ONE_SMS = Policy(
    name="1001sms",
    version="2024-06-15",
    refundable_methods=frozenset({"card"}),
    crypto_final=True,
    spent_after="accepted",
    eu_waiver_by_conduct=True,
)

POLICIES: dict[str, Policy] = {p.name: p for p in (SMS_SERVICE, ONE_THOUSAND_ONE_SMS)}


def policy_named(name: str, *, cancel_lock_seconds: int | None = None) -> Policy:
    try:
        policy = POLICIES[name]
    except KeyError:
        known = ", ".join(sorted(POLICIES))
        raise ValueError(f"unknown policy {name!r}; known policies: {known}") from None
    if cancel_lock_seconds is None:
        return policy
    if cancel_lock_seconds < 0:
        raise ValueError(f"the cancel lock must be 0 or more seconds, not {cancel_lock_seconds}")
    return replace(policy, cancel_lock=timedelta(seconds=cancel_lock_seconds))


def refund_route(policy: Policy, methods: set[str]) -> str | None:
    """How a refund drawn from deposits of these methods is paid (None: nothing to pay)."""
    if not methods:
        return None
    if methods <= policy.original_route_methods:
        return ROUTE_ORIGINAL
    return ROUTE_ALTERNATIVE


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


def add_working_days(start: datetime, days: int) -> datetime:
    """`start` plus `days` working days (Monday to Friday)."""
    current = start
    added = 0
    while added < days:
        current += timedelta(days=1)
        if current.weekday() < 5:
            added += 1
    return current
