"""The `RefundRequest` aggregate: a request to send deposits back to the payment method."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from .aggregate import LedgerAggregate
from .decisions import RefundDecision
from .errors import Refused
from .policies import DETAILS_MISSING, REQUEST_EXTENDED

OPEN_REFUND_STATUSES = frozenset({"awaiting_details", "approved"})


class RefundRequest(LedgerAggregate):
    """Decided once, at request time; later events only move it along."""

    def __init__(self) -> None:
        # Set by `Decided` (declared here for the type checker; no value until then).
        self.request: str
        self.account: str
        self.reason: str
        self.requested: int | None
        self.status: str
        self.amount: int
        self.allocations: list[list[Any]]  # [[deposit, amount], ...]
        self.rules: list[str]
        self.policy: str
        self.requested_at: datetime
        self.details_due: datetime | None
        self.review_due: datetime | None
        self.payout_due: datetime | None
        self.route: str | None
        self.fee = 0
        self.paid_at: datetime | None = None

    class Decided(Aggregate.Created):
        request: str
        account: str
        reason: str
        requested: int | None
        status: str
        amount: int
        allocations: list[list[Any]]
        rules: list[str]
        policy: str
        details_due: datetime | None
        review_due: datetime | None
        payout_due: datetime | None
        route: str | None = None  # original_method / alternative; None: nothing to pay
        # What triggered each rule (see `decisions.RefundDecision`); none in older events.
        triggers: Sequence[dict[str, Any]] = ()
        currency: str | None = None  # the account's; None in older events

        def apply(self, refund: RefundRequest) -> None:
            refund.request = self.request
            refund.account = self.account
            refund.reason = self.reason
            refund.requested = self.requested
            refund.status = self.status
            refund.amount = self.amount
            refund.allocations = self.allocations
            refund.rules = list(self.rules)
            refund.policy = self.policy
            refund.requested_at = self.timestamp
            refund.details_due = self.details_due
            refund.review_due = self.review_due
            refund.payout_due = self.payout_due
            refund.route = self.route

    class DetailsProvided(Aggregate.Event):
        def apply(self, refund: RefundRequest) -> None:
            refund.status = "approved"
            refund.details_due = None
            refund.rules = [r for r in refund.rules if r != DETAILS_MISSING]

    class Expired(Aggregate.Event):
        rules: list[str]

        def apply(self, refund: RefundRequest) -> None:
            refund.status = "expired"
            refund.rules = [*refund.rules, *(r for r in self.rules if r not in refund.rules)]
            refund.details_due = None

    class Withdrawn(Aggregate.Event):
        """A refund not yet paid is refused after all (the account was blocked)."""

        rules: list[str]
        policy: str = ""

        def apply(self, refund: RefundRequest) -> None:
            refund.status = "rejected"
            refund.rules = [*refund.rules, *(r for r in self.rules if r not in refund.rules)]
            refund.details_due = None

    class Extended(Aggregate.Event):
        """The refund period is extended ("for reasons beyond SMS SERVICE's control")."""

        payout_due: datetime
        reason: str
        policy: str
        rules: tuple[str, ...]

        def apply(self, refund: RefundRequest) -> None:
            refund.payout_due = self.payout_due

    class Paid(Aggregate.Event):
        fee: int

        def apply(self, refund: RefundRequest) -> None:
            refund.status = "paid"
            refund.fee = self.fee
            refund.paid_at = self.timestamp

    @classmethod
    def decide(
        cls, *, id: UUID, request: str, account: str, reason: str,  # noqa: A002
        requested: int | None, decision: RefundDecision, policy: str, at: datetime,
        details_due: datetime | None, review_due: datetime | None, payout_due: datetime | None,
        route: str | None = None, currency: str | None = None,
    ) -> RefundRequest:
        return cls._create(
            cls.Decided, id=id, timestamp=at, request=request, account=account, reason=reason,
            requested=requested, status=decision.status, amount=decision.amount,
            allocations=[[a.deposit, a.amount] for a in decision.allocations],
            rules=list(decision.rules), policy=policy,
            details_due=details_due if decision.status == "awaiting_details" else None,
            review_due=review_due if decision.status != "rejected" else None,
            payout_due=payout_due if decision.status != "rejected" else None,
            route=route if decision.status != "rejected" else None,
            triggers=list(decision.triggers), currency=currency,
        )

    @property
    def deadline(self) -> datetime | None:
        return self.details_due if self.status == "awaiting_details" else None

    def provide_details(self, *, at: datetime) -> None:
        if self.status != "awaiting_details":
            raise Refused("not_awaiting_details", f"refund {self.request} is {self.status}")
        self.trigger_event(self.DetailsProvided, timestamp=at)

    def expire(self, rule: str) -> None:
        if self.status != "awaiting_details" or self.details_due is None:
            raise Refused("not_awaiting_details", f"refund {self.request} is {self.status}")
        self.trigger_event(self.Expired, timestamp=self.details_due, rules=[rule])

    def withdraw(self, *, rule: str, at: datetime, policy: str = "") -> None:
        if self.status not in OPEN_REFUND_STATUSES:
            raise Refused("not_open", f"refund {self.request} is {self.status}")
        self.trigger_event(self.Withdrawn, timestamp=at, rules=[rule], policy=policy)

    def extend(self, *, until: datetime, reason: str, at: datetime, policy: str) -> None:
        """Move the payout due time later; only an open request has one to move."""
        if self.status not in OPEN_REFUND_STATUSES:
            raise Refused("not_open", f"refund {self.request} is {self.status}")
        due = self.payout_due or self.review_due
        if due is not None and until <= due:
            raise Refused("not_an_extension", f"refund {self.request} is due {due} already")
        self.trigger_event(
            self.Extended, timestamp=at, payout_due=until, reason=reason, policy=policy,
            rules=(REQUEST_EXTENDED,),
        )

    def pay(self, *, fee: int, at: datetime) -> None:
        if self.status == "paid":
            raise Refused("already_paid", f"refund {self.request} was already paid")
        if self.status != "approved":
            raise Refused("not_approved", f"refund {self.request} is {self.status}")
        if fee > self.amount:
            raise Refused("fee_above_amount", f"fee {fee} exceeds refund {self.amount}")
        self.trigger_event(self.Paid, timestamp=at, fee=fee)
