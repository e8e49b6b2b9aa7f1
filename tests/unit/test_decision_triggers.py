"""Every decision event names what triggered its rules: the deposit and the later order
behind `deposit.spent_after`, the SMS behind an order-level refund or its refusal."""

from __future__ import annotations

from typing import Any

import pytest

from smsledger.domain import ids
from tests.scenario import Outcome, Scenario, run


def events_of(outcome: Outcome, aggregate_id: Any) -> list[Any]:
    return list(outcome.ledger.opened.app.events.get(aggregate_id))


def bought_after_a_deposit(complete: bool) -> Scenario:
    scenario = Scenario()
    scenario.account("a1")
    scenario.deposit(1000, account="a1", deposit="d1")
    scenario.order("o1", 100, account="a1")
    scenario.issue("o1")
    if complete:
        scenario.sms("o1")
        scenario.customer("order.completed", "o1", account="a1")
    scenario.send("refund.requested", request="r1", account="a1", reason="other",
                  details_provided=True)
    return scenario


@pytest.mark.parametrize(("policy", "complete"), [("sms-service", True), ("1001sms", False)])
def test_a_spent_after_refusal_names_the_deposit_and_the_later_order(
    policy: str, complete: bool
) -> None:
    outcome = run(bought_after_a_deposit(complete), policy=policy)
    try:
        decided = events_of(outcome, ids.refund_request_id("r1"))[0]
        assert decided.status == "rejected"
        assert "deposit.spent_after" in decided.rules
        assert {"rule": "deposit.spent_after", "deposit": "d1", "order": "o1"} in (
            decided.triggers)
        assert outcome.balance("a1")["available"] == 900
    finally:
        outcome.ledger.close()


def test_every_rule_of_a_refund_decision_has_a_trigger() -> None:
    outcome = run(bought_after_a_deposit(True), policy="sms-service")
    try:
        decided = events_of(outcome, ids.refund_request_id("r1"))[0]
        assert {t["rule"] for t in decided.triggers} == set(decided.rules)
    finally:
        outcome.ledger.close()


def test_an_approved_refund_names_the_deposits_it_pays_back_unchanged() -> None:
    scenario = Scenario()
    scenario.account("a1")
    scenario.deposit(700, account="a1", deposit="d1")
    scenario.send("refund.requested", request="r1", account="a1", reason="other",
                  amount=900, details_provided=True)
    outcome = run(scenario, policy="sms-service")
    try:
        decided = events_of(outcome, ids.refund_request_id("r1"))[0]
        assert (decided.status, decided.amount, decided.allocations) == (
            "approved", 700, [["d1", 700]])
        assert decided.triggers == [{"rule": "request.amount_capped", "requested": 900,
                                     "refundable": 700}]
    finally:
        outcome.ledger.close()


def wrong_code_reported() -> Scenario:
    scenario = Scenario()
    scenario.account("a1")
    scenario.deposit(1000, account="a1", deposit="d1")
    scenario.order("o1", 100, account="a1")
    scenario.issue("o1")
    scenario.sms("o1", code="11111")
    scenario.customer("order.wrong_code_reported", "o1", account="a1")
    return scenario


def test_an_order_refund_names_the_sms_it_was_decided_on() -> None:
    outcome = run(wrong_code_reported(), policy="sms-service")
    try:
        events = events_of(outcome, ids.order_id("o1"))
        sms = next(e for e in events if type(e).__name__ == "SmsReceived")
        refunded = events[-1]
        assert type(refunded).__name__ == "Refunded"
        assert refunded.triggers == [{"rule": "order.wrong_code",
                                      "sms_version": sms.originator_version}]
        assert refunded.released == 100
    finally:
        outcome.ledger.close()


def test_a_refused_order_refund_names_the_sms_that_arrived() -> None:
    outcome = run(wrong_code_reported(), policy="1001sms")
    try:
        sms = next(e for e in events_of(outcome, ids.order_id("o1"))
                   if type(e).__name__ == "SmsReceived")
        rejection = next(r for r in outcome.query("rejections")
                         if r["type"] == "order.wrong_code_reported")
        assert rejection["rules"] == ["order.sms_received"]
        assert f"SMS of order o1 event {sms.originator_version}" in rejection["detail"]
    finally:
        outcome.ledger.close()
