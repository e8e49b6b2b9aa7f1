"""The web view's pieces that need no server: the chart's SVG and the decisions in words."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("jinja2")

from smsledger.domain import policies  # noqa: E402
from smsledger.infra.cli.history import find_events  # noqa: E402
from smsledger.infra.web.chart import Day, daily_chart, days_of  # noqa: E402
from smsledger.infra.web.explain import RULES, decisions  # noqa: E402
from tests.scenario import Scenario, run  # noqa: E402


def test_the_chart_draws_a_bar_a_day_and_a_point_where_numbers_were_issued() -> None:
    days = days_of([
        {"day": "2026-06-01", "issued": 4, "sms_received": 3, "revenue": 300},
        {"day": "2026-06-01", "issued": 0, "sms_received": 0, "revenue": 0},
        {"day": "2026-06-02", "issued": 0, "sms_received": 0, "revenue": 0},
        {"day": "2026-06-03", "issued": 2, "sms_received": 2, "revenue": 150},
    ])
    assert days == [Day("2026-06-01", 4, 3, 300), Day("2026-06-02", 0, 0, 0),
                    Day("2026-06-03", 2, 2, 150)]

    svg = daily_chart(days)

    heights = re.findall(r'<rect class="revenue" data-day="[^"]+" [^>]*height="([\d.]+)"', svg)
    assert [float(h) for h in heights] == [pytest.approx(136.8), 0.0, pytest.approx(68.4)]
    assert re.findall(r"<title>([^<]*SMS rate[^<]*)</title>", svg) == [
        "2026-06-01: SMS rate 75.0% (3 of 4 issued)",
        "2026-06-03: SMS rate 100.0% (2 of 2 issued)",
    ]
    assert re.search(r'<path class="sms-rate" d="M[\d.,]+ L[\d.,]+"/>', svg)


def test_an_empty_ledger_draws_an_empty_chart() -> None:
    svg = daily_chart([])
    assert "<rect class=\"revenue\" data-" not in svg
    assert "sms-rate-point" not in svg


def test_every_rule_the_policies_name_is_explained() -> None:
    named = {value for name, value in vars(policies).items()
             if name.isupper() and isinstance(value, str) and "." in value}
    assert named - set(RULES) == set()


def test_a_decision_shows_its_outcome_policy_and_rules_in_words() -> None:
    scenario = Scenario()
    scenario.account()
    scenario.deposit(1000)
    scenario.order("o1", 100)
    scenario.issue("o1")
    scenario.customer("order.cancel_requested", "o1", reason="number_already_used")
    outcome = run(scenario)
    _, _, events = find_events(outcome.ledger.opened, "o1")

    found = decisions(events)

    cancelled = [d for d in found if d.event == "Order.Cancelled"]
    assert len(cancelled) == 1
    assert cancelled[0].policy == "sms-service@1"
    assert "reason number_already_used" in cancelled[0].outcome
    assert cancelled[0].rules == [
        (policies.ORDER_NUMBER_ALREADY_USED, RULES[policies.ORDER_NUMBER_ALREADY_USED])]
    outcome.ledger.close()
