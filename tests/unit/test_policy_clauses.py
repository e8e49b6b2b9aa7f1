"""Each rule row of DESIGN §5 and each refund clause of the two policy texts, end to end.

Scenarios are written as short scripts (see `play`); account a1, deposit d1 = 1000, and
orders priced 100 unless the script says otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from smsledger.domain import ids
from smsledger.domain.policy_versions import PolicyVersion
from smsledger.infra.policy_files import package_folder, package_versions
from tests.scenario import Outcome, Scenario, run

MIN = timedelta(minutes=1)
DAY = timedelta(days=1)
SMS_SERVICE, ONE_THOUSAND_ONE = "sms-service", "1001sms"


def _order(s: Scenario, arg: str) -> None:
    order, _, price = (arg or "o1").partition(":")
    s.order(order, int(price or 100))


STEPS: dict[str, Callable[[Scenario, str], Any]] = {
    "fund": lambda s, a: (s.account(), s.deposit(int(a or 1000), deposit="d1")),
    "fund_crypto": lambda s, a: (s.account(), s.deposit(1000, deposit="d1", method="crypto")),
    "fund_other": lambda s, a: (s.account(), s.deposit(1000, deposit="d1", method="other")),
    "topup": lambda s, a: s.deposit(500, deposit="d2"),
    "order": _order,
    "issue": lambda s, a: s.issue(a or "o1"),
    "sms": lambda s, a: s.sms(a or "o1"),
    "sms_nocode": lambda s, a: s.sms(a or "o1", None),
    "retry": lambda s, a: s.customer("order.another_sms_requested", a or "o1"),
    "complete": lambda s, a: s.customer("order.completed", a or "o1"),
    "cancel": lambda s, a: s.customer("order.cancel_requested", a or "o1"),
    "used": lambda s, a: s.customer("order.cancel_requested", a or "o1",
                                    reason="number_already_used"),
    "wrong": lambda s, a: s.customer("order.wrong_code_reported", a or "o1"),
    "incomplete": lambda s, a: s.customer("order.incomplete_sms_reported", a or "o1"),
    "unavailable": lambda s, a: s.send("number.unavailable", order="o1", reason=a),
    "window": lambda s, a: (s.later(21 * MIN), s.send("clock.tick")),
    "block": lambda s, a: s.send("account.blocked", account="a1", reason=a),
    "close": lambda s, a: s.send("account.closed", account="a1"),
    "day": lambda s, a: s.at(timedelta(days=float(a))),
}


def play(script: str, s: Scenario | None = None) -> Scenario:
    s = s or Scenario()
    for token in script.split():
        verb, _, arg = token.partition("=")
        STEPS[verb](s, arg)
    return s


def refund_request(
    s: Scenario, *, reason: str = "service_problem", amount: int | None = None,
    details: bool = True,
) -> Scenario:
    data = {"request": "r1", "account": "a1", "reason": reason, "details_provided": details}
    if amount is not None:
        data["amount"] = amount
    s.send("refund.requested", **data)
    return s


# --- Refunds to the original payment method (DESIGN §5 rule table) ---------------------------

# (policy, clause, script, status, approved amount, a rule id the decision must name)
REFUND_CASES = [
    (SMS_SERVICE, "topped up more than 1 calendar week before contacting support",
     "fund day=8", "rejected", 0, "deposit.window_expired"),
    (SMS_SERVICE, "topped up within the calendar week", "fund day=6.99", "approved", 1000, None),
    (SMS_SERVICE, "activated a number after the top-up: only the later, unused top-up",
     "fund order issue sms complete topup", "approved", 500, "deposit.spent_after"),
    (SMS_SERVICE, "activated a number after the only top-up: remaining balance not refunded",
     "fund order issue sms complete", "rejected", 0, "deposit.spent_after"),
    (SMS_SERVICE, "activated by the window ending after the SMS also counts",
     "fund order issue sms window", "rejected", 0, "deposit.spent_after"),
    (SMS_SERVICE, "a failed order is no activated number",
     "fund order unavailable=no_numbers", "approved", 1000, None),
    (SMS_SERVICE, "a cancelled order is no activated number",
     "fund order issue cancel", "approved", 1000, None),
    (SMS_SERVICE, "a timed-out order is no activated number",
     "fund order issue window", "approved", 1000, None),
    (SMS_SERVICE, "blocked for violation of the rules", "fund block=rules_violation",
     "rejected", 0, "account.blocked"),
    (SMS_SERVICE, "product used for fraud", "fund block=fraud", "rejected", 0, "account.blocked"),
    (SMS_SERVICE, "complaint from law enforcement", "fund block=law_enforcement",
     "rejected", 0, "account.blocked"),
    (SMS_SERVICE, "amount determined by top-up history: capped by the available balance",
     "fund order=o1:400 issue", "approved", 600, "balance.cap"),
    (SMS_SERVICE, "not all methods support refunds: crypto gets an alternative route",
     "fund_crypto", "approved", 1000, None),
    (SMS_SERVICE, "method 'other' gets an alternative route too", "fund_other",
     "approved", 1000, None),
    (ONE_THOUSAND_ONE, "card deposit within 7 days, no transactions", "fund day=6.99",
     "approved", 1000, None),
    (ONE_THOUSAND_ONE, "card deposit older than 7 days", "fund day=8", "rejected", 0,
     "deposit.window_expired"),
    (ONE_THOUSAND_ONE, "ANY transaction after the deposit: even a failed order",
     "fund order unavailable=no_numbers", "rejected", 0, "deposit.spent_after"),
    (ONE_THOUSAND_ONE, "ANY transaction after the deposit: even a cancelled order",
     "fund order issue cancel", "rejected", 0, "deposit.spent_after"),
    (ONE_THOUSAND_ONE, "ANY transaction after the deposit: even a timed-out order",
     "fund order issue window", "rejected", 0, "deposit.spent_after"),
    (ONE_THOUSAND_ONE, "ANY transaction after the deposit: a completed order",
     "fund order issue sms complete", "rejected", 0, "deposit.spent_after"),
    (ONE_THOUSAND_ONE, "ANY transaction after the deposit: an open order",
     "fund order issue", "rejected", 0, "deposit.spent_after"),
    (ONE_THOUSAND_ONE, "an order refused for insufficient funds is no transaction",
     "fund=100 order=o1:500", "approved", 100, None),
    (ONE_THOUSAND_ONE, "a top-up after the last transaction stays refundable",
     "fund order issue sms complete topup", "approved", 500, "deposit.spent_after"),
    (ONE_THOUSAND_ONE, "cryptocurrency deposits are FINAL", "fund_crypto", "rejected", 0,
     "deposit.crypto_final"),
    (ONE_THOUSAND_ONE, "only card payments are refundable", "fund_other", "rejected", 0,
     "deposit.method_not_refundable"),
    (ONE_THOUSAND_ONE, "abuse of the refund policy: suspension", "fund block=abuse",
     "rejected", 0, "account.blocked"),
]
REFUND_IDS = [f"{c[0]}: {c[1]}" for c in REFUND_CASES]


@pytest.mark.parametrize(("policy", "clause", "script", "status", "amount", "rule"),
                         REFUND_CASES, ids=REFUND_IDS)
def test_refund_to_payment_method_follows_the_clause(
    policy: str, clause: str, script: str, status: str, amount: int, rule: str | None
) -> None:
    outcome = run(refund_request(play(script)), policy=policy)
    refund = outcome.refund("r1")
    assert (refund["status"], refund["amount"]) == (status, amount), clause
    if rule is not None:
        assert rule in refund["rules"]
    assert outcome.balance()["refund_pending"] == amount


@pytest.mark.parametrize(("policy", "clause", "script", "status", "amount", "rule"),
                         REFUND_CASES, ids=REFUND_IDS)
def test_deposits_query_agrees_with_the_refund_decision(
    policy: str, clause: str, script: str, status: str, amount: int, rule: str | None
) -> None:
    probe = play(script)
    probe.send("clock.tick")  # same event time as the request below
    deposits = run(probe, policy=policy).query("deposits")
    refund = run(refund_request(play(script)), policy=policy).refund("r1")
    assert sum(d["refundable"] for d in deposits) == refund["amount"] == amount
    blocking = {r for d in deposits for r in d["blocked_by"]}
    assert {r for r in refund["rules"] if r.startswith(("deposit.", "account."))} <= blocking
    if rule is not None and rule.startswith(("deposit.", "account.")):
        assert rule in blocking
    if status == "rejected":
        assert all(d["refundable"] == 0 and d["blocked_by"] for d in deposits)


@pytest.mark.parametrize(
    ("policy", "reason", "status", "rule"),
    [
        pytest.param(SMS_SERVICE, "accidental", "rejected", "request.accidental",
                     id="sms-service: the customer topped up the balance accidentally"),
        pytest.param(SMS_SERVICE, "third_party_incompatibility", "rejected",
                     "request.third_party", id="sms-service: incompatibility with third-party"),
        pytest.param(ONE_THOUSAND_ONE, "third_party_incompatibility", "rejected",
                     "request.third_party", id="1001sms: third-party service issues"),
        pytest.param(ONE_THOUSAND_ONE, "accidental", "approved", None,
                     id="1001sms: accidental is not a criterion"),
    ],
)
def test_request_reason_rules(policy: str, reason: str, status: str, rule: str | None) -> None:
    refund = run(refund_request(play("fund"), reason=reason), policy=policy).refund("r1")
    assert (refund["status"], refund["amount"]) == (status, 1000 if status == "approved" else 0)
    if rule is not None:
        assert rule in refund["rules"]


def test_requested_amount_above_the_refundable_amount_is_capped() -> None:
    refund = run(refund_request(play("fund order=o1:400 issue"), amount=800)).refund("r1")
    assert (refund["requested"], refund["amount"]) == (800, 600)
    assert "balance.cap" in refund["rules"]


def test_a_deposit_is_never_refunded_twice() -> None:
    s = refund_request(play("fund"))
    s.send("refund.requested", request="r2", account="a1", reason="other",
           details_provided=True)
    outcome = run(s)
    assert outcome.refund("r2")["status"] == "rejected"
    assert outcome.balance()["refund_pending"] == 1000


def test_sms_service_request_without_payment_details_expires_after_14_days() -> None:
    """'the customer does not provide the payment information ... within 14 calendar days'."""
    s = refund_request(play("fund"), details=False)
    waiting = run(play("day=13.9 window", Scenario(messages=list(s.messages)))).refund("r1")
    assert (waiting["status"], waiting["amount"]) == ("awaiting_details", 1000)
    outcome = run(play("day=14.1 window", s))
    refund = outcome.refund("r1")
    assert refund["status"] == "expired"
    assert "request.details_missing" in refund["rules"]
    balance = outcome.balance()
    assert (balance["available"], balance["refund_pending"]) == (1000, 0)


def test_sms_service_refund_paid_after_details_records_the_fee() -> None:
    """'the payment system may charge a commission fee for the refund transaction'."""
    s = play("day=3", refund_request(play("fund"), details=False))
    s.send("refund.details_provided", request="r1")
    s.send("refund.paid", request="r1", fee=35)
    outcome = run(play("day=20 window", s))
    refund = outcome.refund("r1")
    assert (refund["status"], refund["amount"], refund["fee"]) == ("paid", 1000, 35)
    balance = outcome.balance()
    assert (balance["available"], balance["refund_pending"], balance["refunded_out"]) == (
        0, 0, 1000)


def test_sms_service_refund_unpaid_after_14_days_is_shown_overdue() -> None:
    """'The refund period is 14 days': the refunds projection shows requests past due."""
    s = refund_request(play("fund"))
    early = run(play("day=13 window", Scenario(messages=list(s.messages))))
    late = run(play("day=15 window", s))
    assert early.query("refunds", extras=True)[0]["overdue"] is False
    assert late.query("refunds", extras=True)[0]["overdue"] is True


def test_1001sms_approves_without_payment_details() -> None:
    s = refund_request(play("fund"), details=False)
    s.send("refund.paid", request="r1", fee=0)
    refund = run(s, policy=ONE_THOUSAND_ONE).refund("r1")
    assert refund["status"] == "paid"
    assert "request.details_missing" not in refund["rules"]


# --- Refunds to the balance: order-level clauses (DESIGN §4, policy texts) -------------------

COMMON_ORDER_CASES = [
    ("no SMS within 20 minutes: returned automatically", "issue window", "timed_out", None),
    ("no SMS: returned after pressing Cancel", "issue cancel", "cancelled", None),
    ("there are no available phone numbers", "unavailable=no_numbers", "failed", None),
    ("the required services are not available", "unavailable=service_unavailable",
     "failed", None),
    ("reasons beyond our control", "unavailable=provider_error", "failed", None),
    ("no number of the country on sale within the window", "window", "failed", None),
    ("after a correct SMS the order cannot be cancelled", "issue sms cancel",
     "sms_received", "code_received"),
    ("numbers successfully rented and activated", "issue sms complete", "completed", None),
]
ORDER_CASES = [
    *[(p, *c) for p in (SMS_SERVICE, ONE_THOUSAND_ONE) for c in COMMON_ORDER_CASES],
    (SMS_SERVICE, "wrong SMS code was received", "issue sms wrong", "refunded", None),
    (SMS_SERVICE, "SMS text was incomplete (no code)", "issue sms_nocode incomplete",
     "refunded", None),
    (SMS_SERVICE, "the registration code is displayed in the table",
     "issue sms incomplete", "sms_received", "policy_refuses"),
    (SMS_SERVICE, "a phone number was given out (already used), even after a code",
     "issue sms used", "cancelled", None),
    (SMS_SERVICE, "number already used while waiting for another SMS",
     "issue sms retry used", "cancelled", None),
    (SMS_SERVICE, "wrong code after another SMS was requested and received",
     "issue sms retry sms wrong", "refunded", None),
    (ONE_THOUSAND_ONE, "no refunds for successfully received SMS (wrong code)",
     "issue sms wrong", "sms_received", "policy_refuses"),
    (ONE_THOUSAND_ONE, "no refunds for successfully received SMS (incomplete text)",
     "issue sms_nocode incomplete", "sms_received", "policy_refuses"),
    (ONE_THOUSAND_ONE, "a refused complaint: the order completes when the window ends",
     "issue sms wrong window", "completed", "policy_refuses"),
    (ONE_THOUSAND_ONE, "no number_already_used clause: cancel after a code is refused",
     "issue sms used", "sms_received", "code_received"),
]


@pytest.mark.parametrize(("policy", "clause", "script", "state", "rejection"), ORDER_CASES,
                         ids=[f"{c[0]}: {c[1]}" for c in ORDER_CASES])
def test_order_level_refund_to_the_balance(
    policy: str, clause: str, script: str, state: str, rejection: str | None
) -> None:
    outcome = run(play("fund order " + script), policy=policy)
    order = outcome.order("o1")
    assert order["state"] == state, clause
    assert outcome.rejection_reasons() == ([rejection] if rejection else [])
    balance = outcome.balance()
    money = (balance["available"], balance["held"], balance["spent"])
    if state == "completed":
        assert money == (900, 0, 100)
        assert (order["charged"], order["released"]) == (100, 0)
    elif state in ("sms_received", "waiting_retry"):
        assert money == (900, 100, 0)
    else:
        assert money == (1000, 0, 0)
        assert (order["charged"], order["released"]) == (0, 100)


def test_refused_complaint_names_the_policy_rule() -> None:
    (rejection,) = run(play("fund order issue sms wrong"), policy=ONE_THOUSAND_ONE).query(
        "rejections")
    assert (rejection["reason"], rejection["rules"]) == ("policy_refuses", ["order.sms_received"])


# --- Account deletion and blocking -----------------------------------------------------------


@pytest.mark.parametrize("policy", [SMS_SERVICE, ONE_THOUSAND_ONE])
def test_account_deletion_releases_open_orders_and_forfeits_the_rest(policy: str) -> None:
    """sms-service: 'account deletion' — the balance is lost when the account was deleted."""
    outcome = run(play("fund order issue sms complete order=o2:200 issue=o2 close"), policy=policy)
    assert (outcome.order("o2")["state"], outcome.order("o2")["released"]) == ("cancelled", 200)
    balance = outcome.balance()
    assert (balance["available"], balance["held"], balance["spent"], balance["forfeited"]) == (
        0, 0, 100, 900)


def test_blocking_cancels_open_orders_and_refuses_new_ones() -> None:
    outcome = run(play("fund order=o1:300 issue block=fraud order=o2"))
    assert outcome.order("o1")["state"] == "cancelled"
    assert outcome.order("o2")["state"] == "rejected"
    balance = outcome.balance()
    assert (balance["available"], balance["held"], balance["forfeited"]) == (1000, 0, 0)


# --- EU withdrawal waiver (1001sms, eu.waiver_recorded) --------------------------------------


def _waiver(outcome: Outcome) -> dict[str, str] | None:
    return outcome.ledger.opened.store.get(ids.account_id("a1")).waiver


@pytest.mark.parametrize(
    ("policy", "eu", "explicit", "trigger"),
    [
        pytest.param(ONE_THOUSAND_ONE, True, False, "deposit",
                     id="EU consumer: adding funds is the express consent"),
        pytest.param(ONE_THOUSAND_ONE, True, True, "explicit", id="EU: explicit waiver.accepted"),
        pytest.param(ONE_THOUSAND_ONE, False, False, None, id="non-EU consumer: no waiver"),
        pytest.param(SMS_SERVICE, True, False, None, id="sms-service has no waiver clause"),
    ],
)
def test_eu_waiver_recorded_by_the_first_act(
    policy: str, eu: bool, explicit: bool, trigger: str | None
) -> None:
    s = Scenario()
    s.account(eu=eu)
    if explicit:
        s.send("waiver.accepted", account="a1")
    play("topup order issue sms complete", s)
    waiver = _waiver(run(s, policy=policy))
    if trigger is None:
        assert waiver is None
    else:
        assert waiver is not None
        assert (waiver["trigger"], waiver["policy"]) == (trigger, "1001sms@2024-06-15")
        assert waiver["at"].startswith("2026-06-01T10:00:01")


def test_eu_waiver_by_purchase_when_the_deposit_came_before_registration() -> None:
    s = Scenario()
    s.deposit(1000, deposit="d1")
    s.account(eu=True)
    play("order", s)
    waiver = _waiver(run(s, policy=ONE_THOUSAND_ONE))
    assert waiver is not None
    assert waiver["trigger"] == "order"


def test_second_explicit_waiver_is_a_rejection() -> None:
    s = Scenario()
    s.account(eu=True)
    play("topup", s)
    s.send("waiver.accepted", account="a1")
    outcome = run(s, policy=ONE_THOUSAND_ONE)
    assert outcome.rejection_reasons() == ["waiver_already_recorded"]
    assert _waiver(outcome)["trigger"] == "deposit"


# --- Purchase versus activation, and blocking after a refund was granted -----------------


def test_sms_service_top_up_between_purchase_and_activation_stays_refundable() -> None:
    """sms-service: only a number "purchased and activated ... after the top-up" blocks it;
    an order bought before the top-up and confirmed after it does not."""
    outcome = run(refund_request(play("fund order issue sms topup complete")))
    refund = outcome.refund("r1")
    assert (refund["status"], refund["amount"]) == ("approved", 500)


@pytest.mark.parametrize(("policy", "reason"), [(SMS_SERVICE, "fraud"),
                                                (ONE_THOUSAND_ONE, "abuse")])
def test_blocking_withdraws_refunds_not_yet_paid(policy: str, reason: str) -> None:
    """sms-service: "blocked for violation ... no refund will be made"; 1001sms: abuse ->
    suspension. A refund granted but not yet paid is withdrawn (`account.blocked`)."""
    s = refund_request(play("fund"))
    play(f"block={reason}", s)
    outcome = run(s, policy=policy)
    refund = outcome.refund("r1")
    assert (refund["status"], refund["amount"]) == ("rejected", 0)
    assert "account.blocked" in refund["rules"]
    assert outcome.balance()["refund_pending"] == 0


@pytest.mark.parametrize("kind", ["refund.details_provided", "refund.paid"])
def test_payment_details_after_14_days_come_too_late(kind: str) -> None:
    s = play("day=15", refund_request(play("fund"), details=False))
    s.send(kind, request="r1")
    outcome = run(s)
    assert outcome.refund("r1")["status"] == "expired"
    assert outcome.counts["rejected"] == 1
    assert outcome.balance()["refunded_out"] == 0


# --- The clauses the policy files quote ---------------------------------------------------

SHARED_TEXTS = next(
    (p / "shared" / "policies" for p in Path(__file__).resolve().parents
     if (p / "shared" / "policies").is_dir()),
    None,
)


def _version(policy: str) -> PolicyVersion:
    (found,) = [v for v in package_versions() if v.policy.name == policy]
    return found


@pytest.mark.parametrize("policy", [SMS_SERVICE, ONE_THOUSAND_ONE])
def test_every_clause_a_policy_file_quotes_is_in_the_policy_text_word_for_word(
    policy: str
) -> None:
    version = _version(policy)
    text = " ".join((package_folder() / version.text).read_text(encoding="utf-8").split())
    assert version.clauses
    for rule, clause in version.clauses.items():
        assert " ".join(clause.split()) in text, (rule, clause)


@pytest.mark.skipif(SHARED_TEXTS is None, reason="no shared/policies above the repository")
@pytest.mark.parametrize("policy", [SMS_SERVICE, ONE_THOUSAND_ONE])
def test_the_shipped_policy_text_is_the_shared_one(policy: str) -> None:
    name = _version(policy).text
    assert SHARED_TEXTS is not None
    shipped = (package_folder() / name).read_bytes()
    assert shipped == (SHARED_TEXTS / name).read_bytes()


@pytest.mark.parametrize("policy", [SMS_SERVICE, ONE_THOUSAND_ONE])
def test_every_rule_the_scenarios_expect_has_a_clause_in_the_policy_file(policy: str) -> None:
    expected = {c[5] for c in REFUND_CASES if c[0] == policy and c[5] is not None}
    expected |= {"order.sms_received"} if policy == ONE_THOUSAND_ONE else {
        "order.wrong_code", "order.incomplete_sms", "order.code_displayed",
        "order.number_already_used"}
    assert expected <= set(_version(policy).clauses)
