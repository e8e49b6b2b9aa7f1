"""The `Account` aggregate: one customer wallet with two-phase money buckets."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from .aggregate import LedgerAggregate
from .errors import CurrencyMismatch, InsufficientFunds, InvariantViolated, Refused
from .money import BUCKETS, DepositRecord

if TYPE_CHECKING:
    from .decisions import AccountFacts


@cache
def _account_facts() -> type[AccountFacts]:
    """The decisions' view of an account, imported by the first decision made: replaying an
    account's events (a history, an audit) needs none."""
    from .decisions import AccountFacts

    return AccountFacts


class Account(LedgerAggregate):
    """Balances obey: deposited = available + held + spent + refund_pending
    + refunded_out + forfeited, every term >= 0."""

    def __init__(self) -> None:
        # Set by `Opened` (declared here for the type checker; no value until then).
        self.account: str
        self.currency: str
        self.eu_consumer: bool
        self.status = "open"
        self.block_reason: str | None = None
        self.registered = False
        self.deposited = 0
        self.available = 0
        self.held = 0
        self.spent = 0
        self.refund_pending = 0
        self.refunded_out = 0
        self.forfeited = 0
        self.holds: dict[str, int] = {}
        self.hold_seqs: dict[str, int] = {}  # order -> the version that held its price
        self.deposits: dict[str, DepositRecord] = {}
        self.pending_refunds: dict[str, list[list[Any]]] = {}
        # The purchase position of the latest-bought order that was completed (activated).
        self.completed_purchase_seq = 0
        # Per completed order, its purchase position: what a reversed completion recomputes
        # the latest one from.
        self.completed_seqs: dict[str, int] = {}
        self.last_accepted_seq = 0
        self.completed_purchase_order: str | None = None  # the order at that position
        self.last_accepted_order: str | None = None
        self.waiver: dict[str, str] | None = None

    class Opened(Aggregate.Created):
        account: str
        currency: str
        eu_consumer: bool
        registered: bool

        def apply(self, account: Account) -> None:
            account.account = self.account
            account.currency = self.currency
            account.eu_consumer = self.eu_consumer
            account.registered = self.registered

    class Registered(Aggregate.Event):
        eu_consumer: bool

        def apply(self, account: Account) -> None:
            account.eu_consumer = self.eu_consumer
            account.registered = True

    class WaiverRecorded(Aggregate.Event):
        trigger: str
        policy: str

        def apply(self, account: Account) -> None:
            account.waiver = {
                "trigger": self.trigger, "policy": self.policy, "at": self.timestamp.isoformat()
            }

    class Deposited(Aggregate.Event):
        deposit: str
        amount: int
        method: str

        def apply(self, account: Account) -> None:
            account.deposited += self.amount
            account.available += self.amount
            account.deposits[self.deposit] = DepositRecord(
                self.deposit, self.amount, self.method, self.timestamp, self.originator_version
            )

    class FundsHeld(Aggregate.Event):
        order: str
        amount: int

        def apply(self, account: Account) -> None:
            account.available -= self.amount
            account.held += self.amount
            account.holds[self.order] = self.amount
            account.hold_seqs[self.order] = self.originator_version
            account.last_accepted_seq = self.originator_version
            account.last_accepted_order = self.order

    class HoldCaptured(Aggregate.Event):
        order: str
        captured: int
        released: int
        purchased_seq: int  # when the order was bought: what "spent after a deposit" compares

        def apply(self, account: Account) -> None:
            account.held -= self.captured + self.released
            account.spent += self.captured
            account.available += self.released
            del account.holds[self.order]
            del account.hold_seqs[self.order]
            if self.purchased_seq >= account.completed_purchase_seq:
                account.completed_purchase_seq = self.purchased_seq
                account.completed_purchase_order = self.order
            account.completed_seqs[self.order] = self.purchased_seq

    class CaptureReversed(Aggregate.Event):
        """A completed order's charge back to `available` (a complaint within the window)."""

        order: str
        amount: int
        completed_purchase_seq: int  # the latest completed purchase without this order
        policy: str
        rules: tuple[str, ...]

        def apply(self, account: Account) -> None:
            account.spent -= self.amount
            account.available += self.amount
            del account.completed_seqs[self.order]
            account.completed_purchase_seq = self.completed_purchase_seq
            account.completed_purchase_order = next(
                (o for o, s in account.completed_seqs.items()
                 if s == self.completed_purchase_seq), None)

    class HoldReleased(Aggregate.Event):
        order: str
        amount: int
        reason: str

        def apply(self, account: Account) -> None:
            account.held -= self.amount
            account.available += self.amount
            del account.holds[self.order]
            del account.hold_seqs[self.order]

    class RefundReserved(Aggregate.Event):
        request: str
        amount: int
        allocations: list[list[Any]]  # [[deposit, amount], ...]
        policy: str

        def apply(self, account: Account) -> None:
            account.available -= self.amount
            account.refund_pending += self.amount
            account.pending_refunds[self.request] = [list(a) for a in self.allocations]
            for deposit, amount in self.allocations:
                account.deposits[deposit].refunded += amount

    class RefundPaidOut(Aggregate.Event):
        request: str
        amount: int
        fee: int

        def apply(self, account: Account) -> None:
            account.refund_pending -= self.amount
            account.refunded_out += self.amount
            del account.pending_refunds[self.request]

    class RefundReleased(Aggregate.Event):
        request: str
        amount: int
        allocations: list[list[Any]]

        def apply(self, account: Account) -> None:
            account.refund_pending -= self.amount
            account.available += self.amount
            del account.pending_refunds[self.request]
            for deposit, amount in self.allocations:
                account.deposits[deposit].refunded -= amount

    class Blocked(Aggregate.Event):
        reason: str
        policy: str = ""
        rules: tuple[str, ...] = ()

        def apply(self, account: Account) -> None:
            account.status = "blocked"
            account.block_reason = self.reason

    class Closed(Aggregate.Event):
        forfeited: int
        policy: str = ""
        rules: tuple[str, ...] = ()

        def apply(self, account: Account) -> None:
            account.status = "closed"
            account.available -= self.forfeited
            account.forfeited += self.forfeited

    class Forfeited(Aggregate.Event):
        """Money that came back to a closed account (a refund request that expired)."""

        amount: int
        request: str
        policy: str
        rules: tuple[str, ...]

        def apply(self, account: Account) -> None:
            account.available -= self.amount
            account.forfeited += self.amount

    # Decisions.

    @classmethod
    def open(
        cls, *, id: UUID, account: str, currency: str, eu_consumer: bool,  # noqa: A002
        registered: bool, at: datetime,
    ) -> Account:
        return cls._create(
            cls.Opened, id=id, timestamp=at, account=account, currency=currency,
            eu_consumer=eu_consumer, registered=registered,
        )

    def register(self, *, currency: str, eu_consumer: bool, at: datetime) -> None:
        if self.registered:
            raise Refused("already_open", f"account {self.account} is already open")
        if currency != self.currency:
            raise CurrencyMismatch(self.currency, currency)
        self.trigger_event(self.Registered, timestamp=at, eu_consumer=eu_consumer)

    def record_waiver(self, *, trigger: str, policy: str, at: datetime) -> None:
        if self.waiver is None:
            self.trigger_event(self.WaiverRecorded, timestamp=at, trigger=trigger, policy=policy)

    def deposit(self, *, deposit: str, amount: int, method: str, at: datetime) -> None:
        if deposit in self.deposits:
            raise Refused("duplicate_deposit", f"deposit {deposit} was already credited")
        self.trigger_event(
            self.Deposited, timestamp=at, deposit=deposit, amount=amount, method=method
        )

    def ensure_usable(self) -> None:
        if self.status != "open":
            raise Refused(f"account_{self.status}", f"account {self.account} is {self.status}")

    def refusal_to_hold(self, amount: int) -> str | None:
        """Why `amount` cannot be held now, or None when it can."""
        if self.status != "open":
            return f"account_{self.status}"
        if amount > self.available:
            return "insufficient_funds"
        return None

    def hold(self, *, order: str, amount: int, at: datetime) -> None:
        self.ensure_usable()
        if amount > self.available:
            raise InsufficientFunds(self.available, amount)
        self.trigger_event(self.FundsHeld, timestamp=at, order=order, amount=amount)

    def capture(self, *, order: str, amount: int, at: datetime) -> None:
        held = self._hold_of(order)
        if amount > held:
            raise InvariantViolated(f"capture {amount} exceeds hold {held} of {order}")
        self.trigger_event(
            self.HoldCaptured, timestamp=at, order=order, captured=amount, released=held - amount,
            purchased_seq=self.hold_seqs[order],
        )

    def reverse_capture(
        self, *, order: str, amount: int, at: datetime, policy: str, rules: tuple[str, ...]
    ) -> None:
        if order not in self.completed_seqs or amount > self.spent:
            raise InvariantViolated(f"account {self.account} captured nothing for {order}")
        latest = max((seq for ref, seq in self.completed_seqs.items() if ref != order),
                     default=0)
        self.trigger_event(
            self.CaptureReversed, timestamp=at, order=order, amount=amount,
            completed_purchase_seq=latest, policy=policy, rules=rules,
        )

    def release(self, *, order: str, reason: str, at: datetime) -> None:
        held = self._hold_of(order)
        self.trigger_event(self.HoldReleased, timestamp=at, order=order, amount=held, reason=reason)

    def _hold_of(self, order: str) -> int:
        try:
            return self.holds[order]
        except KeyError:
            raise InvariantViolated(f"account {self.account} holds nothing for {order}") from None

    def reserve_refund(
        self, *, request: str, amount: int, allocations: list[list[Any]], policy: str, at: datetime
    ) -> None:
        if amount > self.available:
            raise InvariantViolated(f"refund {amount} exceeds available {self.available}")
        self.trigger_event(
            self.RefundReserved, timestamp=at, request=request, amount=amount,
            allocations=allocations, policy=policy,
        )

    def pay_out_refund(self, *, request: str, amount: int, fee: int, at: datetime) -> None:
        self.trigger_event(
            self.RefundPaidOut, timestamp=at, request=request, amount=amount, fee=fee
        )

    def release_refund(self, *, request: str, amount: int, at: datetime) -> None:
        self.trigger_event(
            self.RefundReleased, timestamp=at, request=request, amount=amount,
            allocations=self.pending_refunds[request],
        )

    def block(self, *, reason: str, at: datetime, policy: str, rules: tuple[str, ...]) -> None:
        self.ensure_usable()
        self.trigger_event(self.Blocked, timestamp=at, reason=reason, policy=policy, rules=rules)

    def close(self, *, at: datetime, policy: str, rules: tuple[str, ...]) -> None:
        if self.status == "closed":
            raise Refused("account_closed", f"account {self.account} is already closed")
        if self.holds:
            raise InvariantViolated("release the open orders before closing the account")
        self.trigger_event(
            self.Closed, timestamp=at, forfeited=self.available, policy=policy, rules=rules
        )

    def forfeit(
        self, *, amount: int, request: str, at: datetime, policy: str, rules: tuple[str, ...]
    ) -> None:
        if self.status != "closed" or amount > self.available:
            raise InvariantViolated(f"account {self.account} cannot forfeit {amount}")
        self.trigger_event(
            self.Forfeited, timestamp=at, amount=amount, request=request, policy=policy,
            rules=rules,
        )

    def facts(self) -> AccountFacts:
        return _account_facts()(
            status=self.status,
            available=self.available,
            deposits=tuple(self.deposits.values()),
            completed_purchase_seq=self.completed_purchase_seq,
            last_accepted_seq=self.last_accepted_seq,
            completed_purchase_order=self.completed_purchase_order,
            last_accepted_order=self.last_accepted_order,
        )

    def balances(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in ("deposited", *BUCKETS)}

    def invariant_errors(self) -> list[str]:
        """Empty when the money invariant holds; otherwise what is wrong."""
        errors = [f"{name} is negative ({getattr(self, name)})"
                  for name in BUCKETS if getattr(self, name) < 0]
        total = sum(getattr(self, name) for name in BUCKETS)
        if total != self.deposited:
            errors.append(f"buckets sum to {total}, deposited is {self.deposited}")
        if sum(self.holds.values()) != self.held:
            errors.append(f"holds sum to {sum(self.holds.values())}, held is {self.held}")
        return errors
