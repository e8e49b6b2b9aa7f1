"""Money: the pure refund functions of `domain/decisions.py` and the `Account` invariant."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from smsledger.domain import ledger
from smsledger.domain.account import Account
from smsledger.domain.decisions import (
    AccountFacts,
    decide_refund,
    deposit_blockers,
    refundable_now,
)
from smsledger.domain.errors import InsufficientFunds, InvariantViolated, Refused
from smsledger.domain.money import Allocation, DepositRecord, allocate_newest_first
from smsledger.domain.policies import (
    ONE_THOUSAND_ONE_SMS,
    SMS_SERVICE,
    Policy,
    add_working_days,
)

NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)  # a Wednesday
DAY = timedelta(days=1)


def dep(ref: str, amount: int, seq: int, *, method: str = "card", age: timedelta = DAY,
        refunded: int = 0) -> DepositRecord:
    return DepositRecord(ref, amount, method, NOW - age, seq, refunded)


def facts(*deposits: DepositRecord, available: int | None = None, status: str = "open",
          completed: int = 0, accepted: int = 0) -> AccountFacts:
    total = sum(d.remaining for d in deposits)
    return AccountFacts(status, total if available is None else available, deposits,
                        completed, accepted)


# --- allocate_newest_first ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "expected"),
    [
        (0, ()),
        (300, (Allocation("d3", 300),)),
        (500, (Allocation("d3", 300), Allocation("d2", 200))),
        (1000, (Allocation("d3", 300), Allocation("d2", 200), Allocation("d1", 500))),
        (5000, (Allocation("d3", 300), Allocation("d2", 200), Allocation("d1", 500))),
    ],
)
def test_allocation_takes_the_newest_deposits_first(total: int, expected: tuple) -> None:
    # Given out of order: allocation sorts by the account's sequence, not by list position.
    candidates = [dep("d2", 200, 5), dep("d1", 500, 2), dep("d3", 300, 9)]
    assert allocate_newest_first(candidates, total) == expected


def test_allocation_uses_only_what_is_left_of_each_deposit() -> None:
    candidates = [dep("d1", 500, 2), dep("d2", 400, 5, refunded=400), dep("d3", 300, 9,
                                                                          refunded=100)]
    assert allocate_newest_first(candidates, 600) == (Allocation("d3", 200),
                                                      Allocation("d1", 400))


# --- add_working_days ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        ("2026-06-10", 0, "2026-06-10"),  # Wednesday, no days
        ("2026-06-10", 2, "2026-06-12"),  # Wednesday + 2 -> Friday
        ("2026-06-11", 2, "2026-06-15"),  # Thursday + 2 -> Monday
        ("2026-06-12", 1, "2026-06-15"),  # Friday + 1 -> Monday
        ("2026-06-13", 1, "2026-06-15"),  # Saturday + 1 -> Monday
        ("2026-06-14", 2, "2026-06-16"),  # Sunday + 2 -> Tuesday
        ("2026-06-08", 5, "2026-06-15"),  # a whole working week
    ],
)
def test_add_working_days_skips_weekends(start: str, days: int, expected: str) -> None:
    begin = datetime.fromisoformat(start + "T09:30:00+00:00")
    assert add_working_days(begin, days) == datetime.fromisoformat(expected + "T09:30:00+00:00")


# --- deposit_blockers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "deposit", "completed", "accepted", "expected"),
    [
        (SMS_SERVICE, dep("d", 100, 5), 0, 0, ()),
        (SMS_SERVICE, dep("d", 100, 5, age=7 * DAY), 0, 0, ()),
        (SMS_SERVICE, dep("d", 100, 5, age=7 * DAY + timedelta(seconds=1)), 0, 0,
         ("deposit.window_expired",)),
        (SMS_SERVICE, dep("d", 100, 5), 6, 6, ("deposit.spent_after",)),
        (SMS_SERVICE, dep("d", 100, 5), 4, 9, ()),  # accepted only: not activated
        (SMS_SERVICE, dep("d", 100, 5, method="crypto"), 0, 0, ()),
        (SMS_SERVICE, dep("d", 100, 5, method="other"), 0, 0, ()),
        (SMS_SERVICE, dep("d", 100, 5, refunded=100), 0, 0, ("deposit.already_refunded",)),
        (ONE_THOUSAND_ONE_SMS, dep("d", 100, 5), 0, 0, ()),
        (ONE_THOUSAND_ONE_SMS, dep("d", 100, 5), 0, 6, ("deposit.spent_after",)),
        (ONE_THOUSAND_ONE_SMS, dep("d", 100, 5), 0, 4, ()),  # the order came before it
        (ONE_THOUSAND_ONE_SMS, dep("d", 100, 5, method="crypto"), 0, 0,
         ("deposit.crypto_final",)),
        (ONE_THOUSAND_ONE_SMS, dep("d", 100, 5, method="other"), 0, 0,
         ("deposit.method_not_refundable",)),
        (ONE_THOUSAND_ONE_SMS, dep("d", 100, 5, method="crypto", age=9 * DAY), 0, 6,
         ("deposit.window_expired", "deposit.spent_after", "deposit.crypto_final")),
    ],
)
def test_deposit_blockers_name_every_rule_that_applies(
    policy: Policy, deposit: DepositRecord, completed: int, accepted: int,
    expected: tuple[str, ...],
) -> None:
    assert deposit_blockers(policy, deposit, NOW, completed, accepted) == expected


# --- refundable_now -----------------------------------------------------------------------


def test_refundable_now_counts_only_eligible_deposits_newest_first() -> None:
    account = facts(dep("d1", 500, 2), dep("d2", 300, 8), completed=5)
    per_deposit, verdicts = refundable_now(SMS_SERVICE, account, NOW)
    assert per_deposit == {"d2": 300}
    assert [(v.deposit, v.blocked_by) for v in verdicts] == [
        ("d1", ("deposit.spent_after",)), ("d2", ())]


@pytest.mark.parametrize(("available", "expected"), [(1000, 800), (600, 600), (0, 0), (-5, 0)])
def test_refundable_now_is_capped_by_the_available_balance(available: int, expected: int) -> None:
    account = facts(dep("d1", 500, 2), dep("d2", 300, 8), available=available)
    per_deposit, _ = refundable_now(SMS_SERVICE, account, NOW)
    assert sum(per_deposit.values()) == expected
    assert per_deposit.get("d2", 0) == min(300, expected)  # the newest is refunded first


@pytest.mark.parametrize("status", ["blocked", "closed"])
def test_refundable_now_is_nothing_for_a_blocked_or_closed_account(status: str) -> None:
    per_deposit, verdicts = refundable_now(SMS_SERVICE, facts(dep("d1", 500, 2),
                                                              status=status), NOW)
    assert per_deposit == {}
    assert verdicts[0].blocked_by[0] == f"account.{status}"


# --- decide_refund ------------------------------------------------------------------------


def decide(policy: Policy, account: AccountFacts, *, reason: str = "service_problem",
           requested: int | None = None, details: bool = True):  # noqa: ANN201
    return decide_refund(policy, account, reason=reason, requested=requested,
                         details_provided=details, now=NOW)


@pytest.mark.parametrize(
    ("policy", "account", "reason", "rules"),
    [
        (SMS_SERVICE, facts(dep("d", 100, 1), status="blocked"), "other", ("account.blocked",)),
        (ONE_THOUSAND_ONE_SMS, facts(dep("d", 100, 1), status="blocked"), "other",
         ("account.blocked",)),
        (SMS_SERVICE, facts(dep("d", 100, 1), status="closed"), "other", ("account.closed",)),
        (SMS_SERVICE, facts(dep("d", 100, 1)), "accidental", ("request.accidental",)),
        (SMS_SERVICE, facts(dep("d", 100, 1)), "third_party_incompatibility",
         ("request.third_party",)),
        (ONE_THOUSAND_ONE_SMS, facts(dep("d", 100, 1)), "third_party_incompatibility",
         ("request.third_party",)),
        (SMS_SERVICE, facts(dep("d", 100, 1, age=8 * DAY)), "other",
         ("deposit.window_expired",)),
        (ONE_THOUSAND_ONE_SMS, facts(dep("d", 100, 1, method="crypto")), "other",
         ("deposit.crypto_final",)),
        (SMS_SERVICE, facts(dep("d", 100, 1), available=0), "other", ("balance.cap",)),
    ],
)
def test_decide_refund_rejects_with_the_deciding_rules(
    policy: Policy, account: AccountFacts, reason: str, rules: tuple[str, ...]
) -> None:
    decision = decide(policy, account, reason=reason)
    assert (decision.status, decision.amount, decision.allocations) == ("rejected", 0, ())
    assert decision.rules == rules


def test_1001sms_does_not_refuse_an_accidental_top_up() -> None:
    decision = decide(ONE_THOUSAND_ONE_SMS, facts(dep("d", 100, 1)), reason="accidental")
    assert (decision.status, decision.amount) == ("approved", 100)


@pytest.mark.parametrize(
    ("policy", "details", "status", "extra_rule"),
    [
        (SMS_SERVICE, True, "approved", None),
        (SMS_SERVICE, False, "awaiting_details", "request.details_missing"),
        (ONE_THOUSAND_ONE_SMS, False, "approved", None),
    ],
)
def test_payment_details_are_required_only_by_sms_service(
    policy: Policy, details: bool, status: str, extra_rule: str | None
) -> None:
    decision = decide(policy, facts(dep("d", 100, 1)), details=details)
    assert (decision.status, decision.amount) == (status, 100)
    assert decision.rules == ((extra_rule,) if extra_rule else ())


@pytest.mark.parametrize(
    ("requested", "amount", "allocations", "rules"),
    [
        (None, 600, (("d2", 300), ("d1", 300)), ("balance.cap",)),
        (200, 200, (("d2", 200),), ("balance.cap",)),
        (900, 600, (("d2", 300), ("d1", 300)), ("balance.cap", "request.amount_capped")),
    ],
)
def test_approved_amount_is_capped_and_allocated_newest_first(
    requested: int | None, amount: int, allocations: tuple, rules: tuple[str, ...]
) -> None:
    account = facts(dep("d1", 500, 2), dep("d2", 300, 8), available=600)
    decision = decide(SMS_SERVICE, account, requested=requested)
    assert (decision.status, decision.amount) == ("approved", amount)
    assert decision.allocations == tuple(Allocation(d, a) for d, a in allocations)
    assert decision.rules == rules


def test_partly_blocked_account_names_the_blocking_rule_and_refunds_the_rest() -> None:
    account = facts(dep("d1", 500, 2), dep("d2", 300, 8), completed=5)
    decision = decide(SMS_SERVICE, account)
    assert (decision.status, decision.amount) == ("approved", 300)
    assert decision.rules == ("deposit.spent_after",)


# --- The Account invariant over a sequence of operations ----------------------------------

T0 = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)


def _at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _place(account: Account, order: str, price: int, minute: int):  # noqa: ANN202
    return ledger.place_order(account, order=order, account_ref="a1", service="tg",
                              country="KZ", price=price, at=_at(minute), policy=SMS_SERVICE)


def test_invariant_holds_after_every_operation() -> None:
    account = Account.open(id=uuid4(), account="a1", currency="USD", eu_consumer=False,
                           registered=True, at=T0)
    orders = {}
    steps: list[tuple[str, Callable[[], object]]] = [
        ("deposit", lambda: account.deposit(deposit="d1", amount=1000, method="card",
                                            at=_at(1))),
        ("hold o1", lambda: orders.setdefault("o1", _place(account, "o1", 300, 2))),
        ("hold o2", lambda: orders.setdefault("o2", _place(account, "o2", 200, 3))),
        ("partial capture o1", lambda: (
            orders["o1"].issue(provider="p", phone="1", activation="a", price=250, at=_at(4),
                               window=timedelta(minutes=20)),
            orders["o1"].receive_sms(text="c", code="1", at=_at(5)),
            ledger.complete(orders["o1"], account, at=_at(6), by="customer"))),
        ("release o2", lambda: ledger.fail_order(orders["o2"], account, reason="no_numbers",
                                                 at=_at(7))),
        ("second deposit", lambda: account.deposit(deposit="d2", amount=500, method="crypto",
                                                   at=_at(8))),
        ("refund reserved", lambda: orders.setdefault("r1", ledger.request_refund(
            account, request="r1", reason="other", requested=None, details_provided=True,
            at=_at(9), policy=SMS_SERVICE))),
        ("refund paid", lambda: ledger.pay_refund(orders["r1"], account, fee=10, at=_at(10))),
        ("third deposit", lambda: account.deposit(deposit="d3", amount=300, method="card",
                                                  at=_at(11))),
        ("refund awaiting details", lambda: orders.setdefault("r2", ledger.request_refund(
            account, request="r2", reason="other", requested=100, details_provided=False,
            at=_at(11), policy=SMS_SERVICE))),
        ("hold o3", lambda: orders.setdefault("o3", _place(account, "o3", 100, 12))),
        ("refund expired", lambda: ledger.expire_refund(orders["r2"], account)),
        ("close", lambda: orders.setdefault("closure", ledger.close(
            account, [orders["o3"]], at=_at(13), policy=SMS_SERVICE))),
    ]
    for name, step in steps:
        step()
        assert account.invariant_errors() == [], name
    assert (orders["r1"].status, orders["r2"].status, orders["o3"].state) == (
        "paid", "expired", "cancelled")
    # The closure requests d3 back (no number activated after it); d1 was spent after.
    assert (orders["closure"].status, orders["closure"].amount) == ("awaiting_details", 300)
    assert account.balances() == {
        "deposited": 1800, "available": 0, "held": 0, "spent": 250, "refund_pending": 300,
        "refunded_out": 500, "forfeited": 750,
    }


def test_invariant_check_reports_a_broken_balance() -> None:
    account = Account.open(id=uuid4(), account="a1", currency="USD", eu_consumer=False,
                           registered=True, at=T0)
    account.deposit(deposit="d1", amount=100, method="card", at=T0)
    account.available -= 101
    errors = account.invariant_errors()
    assert any("available is negative" in e for e in errors)
    assert any("buckets sum to" in e for e in errors)


def test_the_account_refuses_operations_that_would_break_the_invariant() -> None:
    account = Account.open(id=uuid4(), account="a1", currency="USD", eu_consumer=False,
                           registered=True, at=T0)
    account.deposit(deposit="d1", amount=100, method="card", at=T0)
    with pytest.raises(InsufficientFunds):
        account.hold(order="o1", amount=101, at=T0)
    account.hold(order="o1", amount=60, at=T0)
    with pytest.raises(InvariantViolated):
        account.capture(order="o1", amount=61, at=T0)
    with pytest.raises(InvariantViolated):
        account.release(order="o9", reason="x", at=T0)
    with pytest.raises(InvariantViolated):
        account.reserve_refund(request="r", amount=41, allocations=[["d1", 41]], policy="p",
                               at=T0)
    with pytest.raises(Refused):
        account.deposit(deposit="d1", amount=5, method="card", at=T0)
    assert account.balances()["available"] == 40
    assert account.invariant_errors() == []
