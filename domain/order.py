"""The `Order` aggregate: one number activation, driven by the order lifecycle."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import cache
from types import ModuleType
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from .aggregate import LedgerAggregate
from .errors import Refused, TransitionRejected
from .policies import ORDER_CANCEL_LOCK


@cache
def _lifecycle() -> ModuleType:
    """The order lifecycle, imported on first use: replaying an order's events (a history,
    an audit) needs only its `apply` methods, and building the state machine's class takes
    longer than reading and replaying one order."""
    from . import lifecycle

    return lifecycle


class Order(LedgerAggregate):
    """A customer's purchase of one number; events record decisions, `apply` only assigns."""

    def __init__(self) -> None:
        self.state = "new"
        self.provider: str | None = None
        self.phone: str | None = None
        self.activation: str | None = None
        self.issued_price: int | None = None
        self.issued_at: datetime | None = None
        self.sms_count = 0
        self.sms_version: int | None = None  # the version of the last SmsReceived
        self.first_sms_at: datetime | None = None
        self.code: str | None = None
        self.text_complete = False
        self.charged = 0
        self.released = 0
        self.reason: str | None = None
        self.deadline: datetime | None  # set by `Requested` and `Rejected`
        self.cancel_lock_seconds = 0
        self.completed_at: datetime | None = None

    class Requested(Aggregate.Created):
        order: str
        account: str
        service: str
        country: str
        price: int
        deadline: datetime
        policy: str
        cancel_lock: int = 0  # seconds after issue (or request) before a cancel is allowed
        currency: str | None = None  # the account's, the price's; None in older events

        def apply(self, order: Order) -> None:
            order._set_request(self)
            order.deadline = self.deadline
            order.cancel_lock_seconds = self.cancel_lock
            order.state = "requested"

    class Rejected(Aggregate.Created):
        order: str
        account: str
        service: str
        country: str
        price: int
        reason: str
        currency: str | None = None  # None for an unknown account, and in older events

        def apply(self, order: Order) -> None:
            order._set_request(self)
            order.deadline = None
            order.reason = self.reason
            order.state = "rejected"

    class Issued(Aggregate.Event):
        provider: str
        phone: str
        activation: str
        price: int
        deadline: datetime

        def apply(self, order: Order) -> None:
            order.provider = self.provider
            order.phone = self.phone
            order.activation = self.activation
            order.issued_price = self.price
            order.issued_at = self.timestamp
            order.deadline = self.deadline
            order.state = "waiting_sms"

    class Failed(Aggregate.Event):
        reason: str
        released: int

        def apply(self, order: Order) -> None:
            order._close("failed", self.reason, released=self.released)

    class SmsReceived(Aggregate.Event):
        text: str
        code: str | None

        def apply(self, order: Order) -> None:
            order.sms_count += 1
            order.sms_version = self.originator_version
            if order.first_sms_at is None:
                order.first_sms_at = self.timestamp
            order.code = self.code
            order.text_complete = self.code is not None
            order.state = "sms_received"

    class AnotherSmsRequested(Aggregate.Event):
        def apply(self, order: Order) -> None:
            order.state = "waiting_retry"

    class Completed(Aggregate.Event):
        charged: int
        released: int
        by: str  # "customer", "window", "account_blocked" or "account_closed"
        policy: str = ""
        rules: tuple[str, ...] = ()

        def apply(self, order: Order) -> None:
            order._close("completed", None, released=self.released, charged=self.charged)
            order.completed_at = self.timestamp

    class Cancelled(Aggregate.Event):
        reason: str
        released: int
        policy: str
        rules: tuple[str, ...]
        detail: str = ""

        def apply(self, order: Order) -> None:
            order._close("cancelled", self.reason, released=self.released)

    class TimedOut(Aggregate.Event):
        released: int

        def apply(self, order: Order) -> None:
            order._close("timed_out", "no_sms", released=self.released)

    class Refunded(Aggregate.Event):
        complaint: str
        released: int
        policy: str
        rules: tuple[str, ...]
        # The SMS the complaint is about; none in older events.
        triggers: Sequence[dict[str, Any]] = ()

        def apply(self, order: Order) -> None:
            order._close("refunded", self.complaint, released=self.released)

    class CompletionReversed(Aggregate.Event):
        """A complaint within the complaint window: the charge goes back to the balance."""

        complaint: str
        reversed: int  # the charge returned
        released: int  # all the balance got back for this order: its whole price
        policy: str
        rules: tuple[str, ...]

        def apply(self, order: Order) -> None:
            order._close("refunded", self.complaint, released=self.released)

    def _set_request(self, event: Order.Requested | Order.Rejected) -> None:
        self.order = event.order
        self.account = event.account
        self.service = event.service
        self.country = event.country
        self.price = event.price
        self.requested_at = event.timestamp

    def _close(self, state: str, reason: str | None, *, released: int, charged: int = 0) -> None:
        self.state = state
        self.reason = reason
        self.released = released
        self.charged = charged
        self.deadline = None

    # Decisions. Each validates against the lifecycle first, then triggers one event.

    @classmethod
    def request(
        cls, *, id: UUID, order: str, account: str, service: str, country: str,  # noqa: A002
        price: int, at: datetime, window: timedelta, policy: str,
        cancel_lock: timedelta = timedelta(0), currency: str | None = None,
    ) -> Order:
        return cls._create(
            cls.Requested, id=id, timestamp=at, order=order, account=account, service=service,
            country=country, price=price, deadline=at + window, policy=policy,
            cancel_lock=int(cancel_lock.total_seconds()), currency=currency,
        )

    @classmethod
    def reject(
        cls, *, id: UUID, order: str, account: str, service: str, country: str,  # noqa: A002
        price: int, at: datetime, reason: str, currency: str | None = None,
    ) -> Order:
        return cls._create(
            cls.Rejected, id=id, timestamp=at, order=order, account=account, service=service,
            country=country, price=price, reason=reason, currency=currency,
        )

    @property
    def is_final(self) -> bool:
        return self.state in _lifecycle().FINAL_STATES

    @property
    def cancel_lock(self) -> timedelta:
        """The early-cancel lock recorded when the order was accepted."""
        return timedelta(seconds=self.cancel_lock_seconds)

    @property
    def capture_amount(self) -> int:
        return self.price if self.issued_price is None else self.issued_price

    def check(self, transition: str, refusal: str | None = None) -> str:
        """The target state of `transition`, or a refusal naming why it cannot happen."""
        target: str | None = _lifecycle().target_of(self.state, transition)
        if target is None:
            reason = "order_closed" if self.is_final else refusal or "invalid_transition"
            raise TransitionRejected(self.state, transition, reason)
        return target

    def issue(
        self, *, provider: str, phone: str, activation: str, price: int | None,
        at: datetime, window: timedelta,
    ) -> None:
        self.check("issue_number")
        issued = self.price if price is None else price
        if issued > self.price:
            raise Refused("price_above_hold", f"issued price {issued} > held {self.price}")
        self.trigger_event(
            self.Issued, timestamp=at, provider=provider, phone=phone,
            activation=activation, price=issued, deadline=at + window,
        )

    def fail(self, *, reason: str, at: datetime) -> None:
        self.check("fail")
        self.trigger_event(self.Failed, timestamp=at, reason=reason, released=self.price)

    def receive_sms(self, *, text: str, code: str | None, at: datetime) -> None:
        self.check("receive_sms", "not_waiting_for_sms")
        self.trigger_event(self.SmsReceived, timestamp=at, text=text, code=code)

    def request_another_sms(self, *, at: datetime) -> None:
        self.check("request_another_sms", "no_sms_to_replace")
        self.trigger_event(self.AnotherSmsRequested, timestamp=at)

    def complete(
        self, *, at: datetime, by: str, policy: str = "", rules: tuple[str, ...] = ()
    ) -> None:
        self.check("complete", "no_sms_received")
        charged = self.capture_amount
        self.trigger_event(
            self.Completed, timestamp=at, charged=charged, released=self.price - charged, by=by,
            policy=policy, rules=rules,
        )

    def cancel(
        self, *, at: datetime, reason: str, policy: str, rules: tuple[str, ...] = (),
        forced: bool = False, lock: timedelta = timedelta(0), detail: str = "",
    ) -> None:
        """`forced`: from any open state (else not once an SMS arrived); `lock`: refused
        until that long after the number was issued (or requested, while none is)."""
        if forced:
            self.check("force_cancel")
        else:
            refusal = "code_received" if self.state in ("sms_received", "waiting_retry") else None
            self.check("cancel", refusal)
        started = self.issued_at or self.requested_at
        if (lock or not forced) and at < started + lock:
            raise Refused("cancel_locked", f"cancel allowed from {started + lock} ({policy})",
                          rules=(ORDER_CANCEL_LOCK,))
        self.trigger_event(
            self.Cancelled, timestamp=at, reason=reason, released=self.price,
            policy=policy, rules=rules, detail=detail,
        )

    def expire(self) -> None:
        """The activation window ended: the outcome depends on how far the order got."""
        at = self.deadline
        if at is None or self.is_final:
            raise Refused("not_expirable", f"order in state {self.state} has no deadline")
        if self.state == "requested":
            self.check("fail")
            self.trigger_event(self.Failed, timestamp=at, reason="no_number", released=self.price)
        elif self.state == "waiting_sms":
            self.check("time_out")
            self.trigger_event(self.TimedOut, timestamp=at, released=self.price)
        else:
            self.complete(at=at, by="window")

    def refund(self, *, complaint: str, at: datetime, policy: str, rule: str) -> None:
        self.check("refund", "no_sms_received")
        self.trigger_event(
            self.Refunded, timestamp=at, complaint=complaint, released=self.price,
            policy=policy, rules=(rule,),
            triggers=[{"rule": rule, "sms_version": self.sms_version}],
        )

    def reverse_completion(
        self, *, complaint: str, at: datetime, policy: str, rules: tuple[str, ...]
    ) -> None:
        self.check("reverse_completion")
        self.trigger_event(
            self.CompletionReversed, timestamp=at, complaint=complaint, reversed=self.charged,
            released=self.price, policy=policy, rules=rules,
        )
