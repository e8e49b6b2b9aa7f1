"""A small builder of inbound message streams for tests, and a runner on a real store."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from smsledger.consumers.ingest import ingest_lines
from smsledger.domain import ids
from smsledger.infra.bootstrap import Ledger, bootstrap
from smsledger.infra.settings import Settings
from smsledger.projections.queries import run_query

START = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
_memory_names = itertools.count()


def memory_store_url() -> str:
    """A private in-memory SQLite database (shared by the store's connections)."""
    return f"sqlite:///file:ledger{next(_memory_names)}?mode=memory&cache=shared"


@dataclass
class Scenario:
    """Messages in the DESIGN §2 shape; `at` advances by `step` unless given."""

    start: datetime = START
    step: timedelta = timedelta(seconds=1)
    messages: list[dict[str, Any]] = field(default_factory=list)
    _now: datetime | None = None
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def at(self, offset: timedelta) -> Scenario:
        """Move the clock to start + offset for the next message."""
        self._now = self.start + offset
        return self

    def later(self, delta: timedelta) -> Scenario:
        self._now = (self._now or self.start) + delta
        return self

    def send(self, kind: str, **data: Any) -> dict[str, Any]:
        now = self._now or self.start
        message = {
            "id": f"m-{next(self._ids):06d}",
            "type": kind,
            "at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "data": data,
        }
        self.messages.append(message)
        self._now = now + self.step
        return message

    def lines(self) -> list[bytes]:
        return [orjson.dumps(m) for m in self.messages]

    # Shorthands for the common messages.

    def account(self, account: str = "a1", *, eu: bool = False, currency: str = "USD") -> None:
        self.send("account.opened", account=account, currency=currency, eu_consumer=eu)

    def deposit(self, amount: int, *, account: str = "a1", deposit: str | None = None,
                method: str = "card") -> None:
        self.send("deposit.succeeded", account=account, deposit=deposit or f"d{len(self.messages)}",
                  amount=amount, currency="USD", method=method)

    def order(self, order: str, price: int, *, account: str = "a1") -> None:
        self.send("order.requested", account=account, order=order, service="telegram",
                  country="KZ", price=price)

    def issue(self, order: str, *, price: int | None = None, provider: str = "p1") -> None:
        data: dict[str, Any] = {"order": order, "provider": provider, "phone": "+7700",
                                "activation": f"act-{order}"}
        if price is not None:
            data["price"] = price
        self.send("number.issued", **data)

    def sms(self, order: str, code: str | None = "12345") -> None:
        self.send("sms.delivered", order=order, text=f"Your code: {code or '...'}", code=code)

    def customer(self, kind: str, order: str, *, account: str = "a1", **extra: Any) -> None:
        self.send(kind, order=order, account=account, **extra)


@dataclass
class Outcome:
    ledger: Ledger
    counts: dict[str, int]

    def query(self, name: str, **kwargs: Any) -> list[dict[str, Any]]:
        return run_query(self.ledger.opened.database, name, **kwargs)

    def by_key(self, name: str, key: str) -> dict[str, dict[str, Any]]:
        return {row[key]: row for row in self.query(name)}

    def balance(self, account: str = "a1") -> dict[str, Any]:
        return self.by_key("balances", "account")[account]

    def order(self, order: str) -> dict[str, Any]:
        return self.by_key("orders", "order")[order]

    def refund(self, request: str) -> dict[str, Any]:
        return self.by_key("refunds", "request")[request]

    def deposit(self, deposit: str) -> dict[str, Any]:
        return self.by_key("deposits", "deposit")[deposit]

    def rejection_reasons(self) -> list[str]:
        return [r["reason"] for r in self.query("rejections")]

    def events(self, kind: str, ref: str) -> list[Any]:
        """The stored events of the order, account or refund request `ref`."""
        make = {"order": ids.order_id, "account": ids.account_id,
                "request": ids.refund_request_id}[kind]
        return list(self.ledger.opened.app.events.get(make(ref)))


def run(
    messages: Scenario | list[bytes], *, policy: str = "sms-service", store: str | None = None,
    batch_size: int = 100, cancel_lock: int | None = None, max_future: timedelta | None = None,
    policy_dir: str | None = None,
) -> Outcome:
    """Ingest the messages on a fresh store (in memory unless given) and catch projections up."""
    lines = messages.lines() if isinstance(messages, Scenario) else messages
    settings = Settings(store=store or memory_store_url(), policy=policy, cancel_lock=cancel_lock,
                        policy_dir=policy_dir)
    if max_future is not None:
        settings = replace(settings, max_future=max_future)
    ledger = bootstrap(settings)
    counts = ingest_lines(ledger.engine(), lines, source="test", batch_size=batch_size)
    ledger.catch_up()
    return Outcome(ledger, counts.as_dict())
