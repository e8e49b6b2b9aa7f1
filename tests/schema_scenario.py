"""One day of an account with an order, a fractional-second SMS and a refund: the rows the
schema tests read on both stores."""

from __future__ import annotations

from datetime import timedelta

from tests.scenario import Scenario


def schema_scenario() -> Scenario:
    scenario = Scenario()
    scenario.account()
    scenario.deposit(1000, deposit="d1")
    scenario.order("o1", 100)
    scenario.issue("o1")
    sms = scenario.send("sms.delivered", order="o1", text="Your code: 1", code="1")
    sms["at"] = sms["at"].replace("Z", ".250000Z")  # a time with a fraction of a second
    scenario.customer("order.completed", "o1")
    scenario.order("o2", 50)
    scenario.later(timedelta(minutes=30))  # o2 times out
    scenario.send("refund.requested", request="r1", account="a1", reason="other",
                  amount=200)
    return scenario
