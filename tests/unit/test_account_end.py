"""Blocking and closing an account, clause by clause (issue 13, points 1 and 3).

Scripts as in `test_policy_clauses.play`: account a1, deposit d1 = 1000 by card, orders
priced 100 unless the script says otherwise.
"""

from __future__ import annotations

import pytest

from smsledger.domain.closure import closure_request, returned_deposit_request
from tests.scenario import Outcome, Scenario, run
from tests.unit.test_policy_clauses import ONE_THOUSAND_ONE, SMS_SERVICE, play, refund_request

REFS = {SMS_SERVICE: "sms-service@1", ONE_THOUSAND_ONE: "1001sms@2024-06-15"}
ENDS = {"block=fraud": "account.blocked", "close": "account.closed"}
BOTH = [(p, end) for p in (SMS_SERVICE, ONE_THOUSAND_ONE) for end in ENDS]


def _money(outcome: Outcome) -> tuple[int, ...]:
    b = outcome.balance()
    return (b["available"], b["held"], b["spent"], b["refund_pending"], b["forfeited"])


# --- Point 1: a delivered code survives a block or a closure ---------------------------------


@pytest.mark.parametrize(("policy", "end"), BOTH)
@pytest.mark.parametrize("script", ["issue sms", "issue sms retry"],
                         ids=["sms_received", "waiting_retry"])
def test_a_delivered_code_is_completed_and_captured_at_block_or_closure(
    policy: str, end: str, script: str
) -> None:
    """sms-service: no refund "after a correct SMS message has been sent to the virtual
    number"; a blocked account gets "no refund"; 1001sms: "No Refunds For Successfully
    received SMS messages". The order is completed and captured at the issued price."""
    s = play("fund order=o1:300")
    s.issue("o1", price=250)
    play(f"{script.removeprefix('issue ')} {end}", s)
    outcome = run(s, policy=policy)
    order = outcome.order("o1")
    assert (order["state"], order["charged"], order["released"]) == ("completed", 250, 50)
    assert outcome.balance()["spent"] == 250
    assert outcome.query("stats")[0]["revenue"] == 250
    (completed,) = [e for e in outcome.events("order", "o1") if type(e).__name__ == "Completed"]
    assert (completed.policy, list(completed.rules)) == (
        REFS[policy], [ENDS[end], "order.code_delivered"])
    assert completed.by == ENDS[end].replace(".", "_")


@pytest.mark.parametrize(("policy", "end"), BOTH)
@pytest.mark.parametrize("script", ["", "issue"], ids=["requested", "waiting_sms"])
def test_an_order_without_a_code_is_cancelled_and_released_at_block_or_closure(
    policy: str, end: str, script: str
) -> None:
    """Only orders without a code are cancelled and their hold released."""
    outcome = run(play(f"fund order {script} {end}"), policy=policy)
    order = outcome.order("o1")
    assert (order["state"], order["charged"], order["released"]) == ("cancelled", 0, 100)
    (cancelled,) = [e for e in outcome.events("order", "o1") if type(e).__name__ == "Cancelled"]
    assert (cancelled.policy, list(cancelled.rules)) == (REFS[policy], [ENDS[end]])


@pytest.mark.parametrize(("policy", "state", "rule"), [
    (SMS_SERVICE, "cancelled", "order.incomplete_sms"),
    (ONE_THOUSAND_ONE, "completed", "order.sms_received"),
])
def test_an_sms_without_a_code_at_block_follows_the_incomplete_text_clause(
    policy: str, state: str, rule: str
) -> None:
    """sms-service guarantees a refund when the "SMS text was incomplete": released;
    1001sms: "No Refunds For Successfully received SMS messages": captured."""
    outcome = run(play("fund order issue sms_nocode block=fraud"), policy=policy)
    assert outcome.order("o1")["state"] == state
    event = outcome.events("order", "o1")[-1]
    assert list(event.rules) == ["account.blocked", rule]


@pytest.mark.parametrize(("policy", "end"), BOTH)
def test_every_event_a_block_or_closure_causes_records_the_policy_and_a_rule(
    policy: str, end: str
) -> None:
    """No more `policy=""`, `rules=[]`: the log alone explains each decision."""
    s = play("fund order=o1 issue=o1 sms=o1 order=o2 issue=o2")
    refund_request(s, amount=100)
    play(end, s)
    outcome = run(s, policy=policy)
    end_time = s.messages[-1]["at"]
    caused = [e for kind, ref in (("account", "a1"), ("order", "o1"), ("order", "o2"),
                                  ("request", "r1"), ("request", closure_request("a1")))
              for e in outcome.events(kind, ref)
              if e.timestamp.strftime("%Y-%m-%dT%H:%M:%SZ") == end_time and hasattr(e, "policy")]
    names = {type(e).__name__ for e in caused}
    assert {"Completed", "Cancelled"} <= names
    assert ("Blocked" in names) == (end != "close")
    assert ("Closed" in names) == (end == "close")
    for event in caused:
        assert event.policy == REFS[policy], type(event).__name__
        assert list(event.rules), type(event).__name__


# --- Point 3: account deletion is a guaranteed refund (sms-service) --------------------------


def test_closure_requests_the_refundable_balance_back_and_forfeits_nothing_else() -> None:
    """sms-service: "We guarantee a refund if: ... account deletion". The closure's own
    refund request, decided by the deposit rules, awaits the payment details like any."""
    outcome = run(play("fund close"))
    refund = outcome.refund(closure_request("a1"))
    assert (refund["status"], refund["amount"], refund["route"]) == (
        "awaiting_details", 1000, "original_method")
    assert "request.details_missing" in refund["rules"]
    assert _money(outcome) == (0, 0, 0, 1000, 0)


def test_closure_refund_is_paid_once_the_details_arrive() -> None:
    s = play("fund close")
    s.send("refund.details_provided", request=closure_request("a1"))
    s.send("refund.paid", request=closure_request("a1"), fee=20)
    outcome = run(s)
    assert outcome.refund(closure_request("a1"))["status"] == "paid"
    assert outcome.balance()["refunded_out"] == 1000


def test_closure_forfeits_only_what_the_deposit_rules_keep() -> None:
    """"if the Customer has successfully purchased and activated at least one number after
    the top-up, the funds remaining ... cannot be refunded"; "only the top-up that was not
    used ... shall be refunded": d2 comes back, the rest of d1 burns."""
    outcome = run(play("fund order issue sms complete topup close"))
    refund = outcome.refund(closure_request("a1"))
    assert (refund["status"], refund["amount"]) == ("awaiting_details", 500)
    assert _money(outcome) == (0, 0, 100, 500, 900)
    closed = outcome.events("account", "a1")[-1]
    assert (type(closed).__name__, closed.forfeited) == ("Closed", 900)
    assert list(closed.rules) == ["account.closed", "deposit.spent_after"]


@pytest.mark.parametrize(("script", "status", "amount", "rule", "forfeited"), [
    ("fund", "approved", 1000, None, 0),
    ("fund day=8", "rejected", 0, "deposit.window_expired", 1000),
    ("fund order issue cancel", "rejected", 0, "deposit.spent_after", 1000),
    ("fund_crypto", "rejected", 0, "deposit.crypto_final", 1000),
    ("fund_other", "rejected", 0, "deposit.method_not_refundable", 1000),
], ids=["card within 7 days, no transaction", "older than 7 days", "ANY transaction",
        "crypto FINAL", "only card payments"])
def test_1001sms_closure_applies_its_own_card_rules(
    script: str, status: str, amount: int, rule: str | None, forfeited: int
) -> None:
    """1001sms: card refunds "within 7 days of the deposit" with "NO transactions"."""
    outcome = run(play(f"{script} close"), policy=ONE_THOUSAND_ONE)
    refund = outcome.refund(closure_request("a1"))
    assert (refund["status"], refund["amount"]) == (status, amount)
    if rule is not None:
        assert rule in refund["rules"]
    assert _money(outcome) == (0, 0, 0, amount, forfeited)


def test_closure_refund_expiring_without_details_is_forfeited() -> None:
    """"the customer does not provide the payment information ... within 14 calendar days":
    no refund, and the deleted account's balance burns (the preamble)."""
    outcome = run(play("fund close day=15 window"))
    assert outcome.refund(closure_request("a1"))["status"] == "expired"
    assert _money(outcome) == (0, 0, 0, 0, 1000)
    forfeited = outcome.events("account", "a1")[-1]
    assert (type(forfeited).__name__, forfeited.amount, list(forfeited.rules)) == (
        "Forfeited", 1000, ["request.details_missing", "account.closed"])


def test_closing_a_blocked_account_refunds_nothing() -> None:
    """"In case the Customer's personal account is blocked ... no refund will be made"."""
    outcome = run(play("fund block=rules_violation close"))
    refund = outcome.refund(closure_request("a1"))
    assert (refund["status"], refund["amount"], refund["rules"]) == (
        "rejected", 0, ["account.blocked"])
    assert _money(outcome) == (0, 0, 0, 0, 1000)


@pytest.mark.parametrize(("policy", "method", "route"), [
    (SMS_SERVICE, "card", "original_method"), (SMS_SERVICE, "crypto", "alternative"),
    (ONE_THOUSAND_ONE, "card", "original_method"), (ONE_THOUSAND_ONE, "other", "alternative"),
])
def test_a_deposit_after_closure_goes_back_to_its_payment_method(
    policy: str, method: str, route: str
) -> None:
    """Money received for a deleted account is not kept on a closed balance."""
    s = play("fund close")
    s.deposit(300, deposit="late", method=method)
    outcome = run(s, policy=policy)
    returned = outcome.refund(returned_deposit_request("a1", "late"))
    assert (returned["status"], returned["amount"], returned["route"]) == ("approved", 300, route)
    assert returned["rules"] == ["deposit.after_closure"]
    assert outcome.balance()["available"] == 0
    assert outcome.balance()["refund_pending"] == 300 + 1000  # and the closure's own request


def test_a_customer_request_may_not_take_a_closure_request_name() -> None:
    s = play("fund")
    s.send("refund.requested", request=closure_request("a1"), account="a1", reason="other",
           details_provided=True)
    outcome = run(s)
    assert outcome.rejection_reasons() == ["reserved_request"]
    assert outcome.query("refunds") == []


def test_closing_an_account_twice_is_a_rejection() -> None:
    outcome = run(play("fund close close", Scenario()))
    assert outcome.rejection_reasons() == ["account_closed"]
    assert len(outcome.query("refunds")) == 1
