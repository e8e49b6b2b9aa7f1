"""`explain`: each decision in plain words, with its policy@version and the clause of the
policy text behind each rule id; the clauses shipped with the package are the texts'."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from smsledger.domain import policies
from smsledger.domain.clauses import CLAUSES, SOURCES, clause_for
from smsledger.infra.audit.explain import explain
from tests.scenario import Scenario, run

ROOT = Path(__file__).resolve().parents[2]
RULE_IDS = sorted(
    value for name, value in vars(policies).items()
    if name.isupper() and isinstance(value, str) and "." in value
)


def policy_text(policy: str) -> str:
    """The policy text of `policy`, from shared/policies/ beside (or above) the checkout."""
    for folder in (ROOT, *ROOT.parents):
        path = folder / "shared" / "policies" / SOURCES[policy]
        if path.exists():
            return re.sub(r"\s+", " ", path.read_text())
    pytest.skip(f"the policy texts (shared/policies/{SOURCES[policy]}) are not beside the"
                " checkout")


@pytest.mark.parametrize("rule", RULE_IDS)
def test_every_rule_id_has_a_clause_under_some_policy(rule: str) -> None:
    assert CLAUSES.get(rule), f"{rule} has no clause: add it to domain/clauses.py"
    assert set(CLAUSES[rule]) <= set(policies.POLICIES)


@pytest.mark.parametrize(("rule", "policy"), [(r, p) for r in CLAUSES for p in CLAUSES[r]])
def test_every_quoted_clause_is_verbatim_in_its_policy_text(rule: str, policy: str) -> None:
    text = policy_text(policy)
    for quote in CLAUSES[rule][policy].quotes:
        assert re.sub(r"\s+", " ", quote) in text, f"{rule} ({policy}): {quote!r}"


def test_a_clause_is_found_by_policy_name_or_policy_ref() -> None:
    assert clause_for("order.wrong_code", "sms-service@1") == clause_for(
        "order.wrong_code", "sms-service")
    assert clause_for("order.wrong_code", "1001sms@2024-06-15") is None


def _bought(s: Scenario) -> Scenario:
    s.account()
    s.deposit(1000, deposit="d1")
    s.order("o1", 100)
    s.issue("o1")
    s.sms("o1")
    return s


def test_an_order_refunded_for_a_wrong_code_quotes_the_clause() -> None:
    s = _bought(Scenario())
    s.customer("order.wrong_code_reported", "o1")
    outcome = run(s, policy="sms-service")
    found = explain(outcome.ledger, "o1")
    assert (found.kind, found.account, found.policy) == ("order", "a1", "sms-service@1")
    refunded = found.decisions[-1]
    assert refunded.event == "Order.Refunded"
    assert refunded.policy == "sms-service@1"
    assert "refunded to the balance (wrong_code): 100 released" in refunded.decision
    assert refunded.rules == [{"rule": "order.wrong_code",
                               "clauses": ["wrong SMS code was received;"], "reading": None}]


def test_a_refused_complaint_is_explained_from_the_rejections_journal() -> None:
    s = _bought(Scenario())
    s.customer("order.wrong_code_reported", "o1")
    outcome = run(s, policy="1001sms")
    found = explain(outcome.ledger, "o1")
    refusal = found.decisions[-1]
    assert refusal.event == "rejected order.wrong_code_reported"
    assert "policy_refuses" in refusal.decision
    assert refusal.rules[0]["rule"] == "order.sms_received"
    assert "Successfully received SMS messages" in refusal.rules[0]["clauses"]


def test_a_refund_request_names_its_status_amount_and_rules() -> None:
    s = Scenario()
    s.account()
    s.deposit(1000, deposit="d1")
    s.at(timedelta(days=8))
    s.send("refund.requested", request="r1", account="a1", reason="service_problem",
           details_provided=True)
    outcome = run(s, policy="1001sms")
    found = explain(outcome.ledger, "r1")
    decided = found.decisions[0]
    assert found.kind == "refund request"
    assert "decided rejected: 0" in decided.decision
    assert decided.policy == "1001sms@2024-06-15"
    [window] = [r for r in decided.rules if r["rule"] == "deposit.window_expired"]
    assert "The refund request is made within 7 days of the deposit." in window["clauses"]


def test_a_deposit_shows_its_credit_and_what_blocks_its_refund_now() -> None:
    s = _bought(Scenario())
    s.customer("order.completed", "o1")
    outcome = run(s, policy="sms-service")
    found = explain(outcome.ledger, "d1")
    assert found.kind == "deposit"
    assert found.decisions[0].decision == "1000 credited (paid by card)"
    now = found.decisions[-1]
    assert now.event == "now"
    assert "blocked by deposit.spent_after" in now.decision
    assert now.rules[0]["clauses"][0].startswith("if the Customer has successfully purchased")


def test_an_unknown_id_is_a_lookup_error() -> None:
    outcome = run(_bought(Scenario()))
    with pytest.raises(LookupError, match="no order, refund request or deposit called 'zz'"):
        explain(outcome.ledger, "zz")
