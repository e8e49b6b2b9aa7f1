"""What a handler is given (`Context`, the batch's aggregates) and what it returns to the
engine (`Outcome`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from smsledger.domain.account import Account
from smsledger.domain.order import Order
from smsledger.domain.policies import Policy
from smsledger.domain.refund import RefundRequest

from .messages import Message


class Context(Protocol):
    policy: Policy

    def account(self, ref: str) -> Account | None: ...

    def order(self, ref: str) -> Order | None: ...

    def refund(self, ref: str) -> RefundRequest | None: ...

    def open_orders(self, account: Account) -> list[Order]: ...

    def touch(self, *aggregates: Account | Order | RefundRequest) -> None: ...


@dataclass(frozen=True)
class Applied:
    pass


@dataclass(frozen=True)
class Ignored:
    reason: str


@dataclass(frozen=True)
class Refusal:
    """Refused, yet recorded in the aggregates too (an order born `rejected`)."""

    reason: str
    detail: str


@dataclass(frozen=True)
class Park:
    kind: str  # "order", "request" or "account"
    subject: str


Outcome = Applied | Ignored | Refusal | Park
APPLIED = Applied()
Handler = Callable[[Context, Message], Outcome]
