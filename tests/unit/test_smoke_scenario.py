"""The happy path end to end through the ingest path on an in-memory store."""

from __future__ import annotations

from tests.scenario import Scenario, run


def test_completed_order_captures_the_issued_price(scenario: Scenario) -> None:
    scenario.account()
    scenario.deposit(1000)
    scenario.order("o1", 100)
    scenario.issue("o1", price=80)
    scenario.sms("o1")
    scenario.customer("order.completed", "o1")
    outcome = run(scenario)
    assert outcome.order("o1")["state"] == "completed"
    assert outcome.order("o1")["charged"] == 80
    assert outcome.order("o1")["released"] == 20
    balance = outcome.balance()
    assert (balance["available"], balance["held"], balance["spent"]) == (920, 0, 80)


def test_an_order_refused_at_request_is_an_order_and_a_rejection(scenario: Scenario) -> None:
    scenario.account()
    scenario.deposit(50)
    scenario.order("o1", 100)
    outcome = run(scenario)
    assert outcome.order("o1")["state"] == "rejected"
    assert outcome.order("o1")["reason"] == "insufficient_funds"
    rejections = outcome.query("rejections")
    assert [(r["type"], r["subject"], r["reason"]) for r in rejections] == [
        ("order.requested", "o1", "insufficient_funds")
    ]
    assert outcome.balance()["available"] == 50
