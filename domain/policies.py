"""The two refund policies as versioned data; what they decide is `decisions`'.

Each rule id below names a clause of a policy text in `shared/policies/`; every decision
event records `policy.ref` and the ids of the rules that decided it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

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


def add_working_days(start: datetime, days: int) -> datetime:
    """`start` plus `days` working days (Monday to Friday)."""
    current = start
    added = 0
    while added < days:
        current += timedelta(days=1)
        if current.weekday() < 5:
            added += 1
    return current
