"""Complaints after completion, failed cancels, refund routes and extensions, and the
early-cancel lock, clause by clause (issue 13, points 2, 4, 5 and 6).

Scripts as in `test_policy_clauses.play`: account a1, deposit d1 = 1000 by card, orders
priced 100 unless the script says otherwise.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from smsledger.infra.bootstrap import bootstrap
from smsledger.infra.settings import Settings, settings_from_env
from tests.scenario import Outcome, Scenario, memory_store_url, run
from tests.unit.test_policy_clauses import ONE_THOUSAND_ONE, SMS_SERVICE, play, refund_request

HOUR = timedelta(hours=1)


def _money(outcome: Outcome) -> tuple[int, int, int]:
    b = outcome.balance()
    return (b["available"], b["held"], b["spent"])


def _rejection(outcome: Outcome) -> tuple[str, list[str]]:
    (rejection,) = outcome.query("rejections")
    return rejection["reason"], rejection["rules"]


def _complain(s: Scenario, kind: str, after: timedelta) -> Scenario:
    s.later(after)
    s.customer(f"order.{kind}_reported", "o1")
    return s


# --- Point 2: complaints after the window auto-completed the order --------------------------


@pytest.mark.parametrize(("script", "kind", "rule"), [
    ("issue sms window", "wrong_code", "order.wrong_code"),
    ("issue sms_nocode window", "incomplete_sms", "order.incomplete_sms"),
    ("issue sms complete", "wrong_code", "order.wrong_code"),
], ids=["wrong SMS code after auto-completion", "SMS text was incomplete after auto-completion",
        "wrong SMS code after the customer completed"])
def test_sms_service_complaint_within_24_hours_of_completion_reverses_the_capture(
    script: str, kind: str, rule: str
) -> None:
    """sms-service guarantees a refund if a "wrong SMS code was received" or the "SMS text
    was incomplete"; this engine's reading: a report up to 24 hours after completion."""
    s = _complain(play(f"fund order {script}"), kind, 23 * HOUR)
    outcome = run(s)
    order = outcome.order("o1")
    assert (order["state"], order["charged"], order["released"], order["reason"]) == (
        "refunded", 0, 100, kind)
    assert _money(outcome) == (1000, 0, 0)
    reversed_ = outcome.events("account", "a1")[-1]
    assert (type(reversed_).__name__, reversed_.amount, list(reversed_.rules)) == (
        "CaptureReversed", 100, [rule])
    assert outcome.events("order", "o1")[-1].policy == "sms-service@1"
    stats = outcome.query("stats")[0]
    assert (stats["revenue"], stats["refunded"]) == (0, 1)


def test_sms_service_complaint_after_24_hours_is_rejected_with_the_window_rule() -> None:
    outcome = run(_complain(play("fund order issue sms window"), "wrong_code", 25 * HOUR))
    assert _rejection(outcome) == ("complaint_too_late", ["order.complaint_window"])
    assert outcome.order("o1")["state"] == "completed"
    assert _money(outcome) == (900, 0, 100)


def test_an_incomplete_text_report_after_completion_is_refused_when_the_code_showed() -> None:
    """"the registration code is displayed in the table ... obligations ... fulfilled"."""
    outcome = run(_complain(play("fund order issue sms window"), "incomplete_sms", HOUR))
    assert _rejection(outcome) == ("policy_refuses", ["order.code_displayed"])
    assert _money(outcome) == (900, 0, 100)


@pytest.mark.parametrize("kind", ["wrong_code", "incomplete_sms"])
def test_1001sms_has_no_complaint_window(kind: str) -> None:
    """1001sms: "Refunds are ONLY available ... when an SMS message is not received"."""
    outcome = run(_complain(play("fund order issue sms_nocode window"), kind, HOUR),
                  policy=ONE_THOUSAND_ONE)
    assert _rejection(outcome) == ("policy_refuses", ["order.sms_received"])
    assert _money(outcome) == (900, 0, 100)


def test_a_complaint_from_a_blocked_account_is_refused() -> None:
    """"blocked for violation of the rules ... no refund will be made"."""
    s = play("fund order issue sms complete block=fraud")
    outcome = run(_complain(s, "wrong_code", HOUR))
    assert _rejection(outcome) == ("account_blocked", ["account.blocked"])


def test_a_reversed_completion_no_longer_counts_as_an_activated_number() -> None:
    """"if the Customer has successfully purchased and activated at least one number after
    the top-up ...": a wrong code was no successful activation, so d1 is refundable again."""
    s = _complain(play("fund order issue sms window"), "wrong_code", HOUR)
    refund = run(refund_request(s)).refund("r1")
    assert (refund["status"], refund["amount"]) == ("approved", 1000)


def test_reversing_one_completion_keeps_the_other_activations_rules() -> None:
    """d1, o1 completed, d2, o2 completed; o2's wrong code reverses o2 only: o1 still blocks
    d1 ("spent after"), d2 has no activation after it and becomes refundable."""
    s = play("fund order=o1 issue=o1 sms=o1 complete=o1 topup order=o2 issue=o2 sms=o2 "
             "complete=o2")
    s.customer("order.wrong_code_reported", "o2")
    refund = run(refund_request(s)).refund("r1")
    assert (refund["status"], refund["amount"]) == ("approved", 500)
    assert "deposit.spent_after" in refund["rules"]


# --- Point 4: "various errors when trying to cancel the number via the cancel button" -------


def _cancel_failed(s: Scenario) -> Scenario:
    s.customer("order.cancel_failed", "o1", detail="HTTP 500 from the cancel button")
    return s


@pytest.mark.parametrize("script", ["", "issue", "issue sms_nocode", "issue sms_nocode retry"],
                         ids=["requested", "waiting_sms", "sms without code",
                              "waiting retry without code"])
def test_sms_service_releases_a_failed_cancel_from_any_open_state_without_a_code(
    script: str
) -> None:
    outcome = run(_cancel_failed(play(f"fund order {script}")))
    order = outcome.order("o1")
    assert (order["state"], order["released"], order["reason"]) == (
        "cancelled", 100, "cancel_failed")
    assert _money(outcome) == (1000, 0, 0)
    cancelled = outcome.events("order", "o1")[-1]
    assert (list(cancelled.rules), cancelled.policy, cancelled.detail) == (
        ["order.cancel_error"], "sms-service@1", "HTTP 500 from the cancel button")


def test_sms_service_refuses_a_failed_cancel_once_a_code_arrived() -> None:
    """No refund "after a correct SMS message has been sent to the virtual number"."""
    outcome = run(_cancel_failed(play("fund order issue sms")))
    assert _rejection(outcome) == ("code_received", ["order.code_delivered"])
    assert _money(outcome) == (900, 100, 0)


def test_1001sms_releases_a_failed_cancel_only_while_no_sms_arrived() -> None:
    """1001sms: "Refunds are ONLY available ... when an SMS message is not received"."""
    released = run(_cancel_failed(play("fund order issue")), policy=ONE_THOUSAND_ONE)
    assert released.order("o1")["state"] == "cancelled"
    assert list(released.events("order", "o1")[-1].rules) == ["order.sms_not_received"]
    refused = run(_cancel_failed(play("fund order issue sms_nocode")), policy=ONE_THOUSAND_ONE)
    assert _rejection(refused) == ("policy_refuses", ["order.sms_received"])
    assert refused.order("o1")["state"] == "sms_received"


def test_a_failed_cancel_of_a_closed_order_is_order_closed() -> None:
    outcome = run(_cancel_failed(play("fund order issue window")))
    assert _rejection(outcome)[0] == "order_closed"


# --- Point 5: refund routes and extended refund periods -------------------------------------


@pytest.mark.parametrize(("policy", "script", "route"), [
    (SMS_SERVICE, "fund", "original_method"),
    (SMS_SERVICE, "fund_crypto", "alternative"),
    (SMS_SERVICE, "fund_other", "alternative"),
    (SMS_SERVICE, "fund_crypto topup", "alternative"),
    (ONE_THOUSAND_ONE, "fund", "original_method"),
    (ONE_THOUSAND_ONE, "fund_crypto", None),
], ids=["card", "crypto", "other", "crypto and card", "1001sms card",
        "1001sms rejected: nothing to route"])
def test_refund_route_follows_the_deposit_methods(
    policy: str, script: str, route: str | None
) -> None:
    """sms-service: "not all payment methods support refunds. If payment was made via one
    of these methods, we will offer alternative refund options"."""
    refund = run(refund_request(play(script)), policy=policy).refund("r1")
    assert refund["route"] == route


def _extend(s: Scenario, until: str, reason: str = "payment system outage") -> Scenario:
    s.send("refund.extended", request="r1", until=until, reason=reason)
    return s


def test_an_extended_refund_period_moves_payout_due_and_overdue_follows() -> None:
    """"The refund period is 14 days. ... the refund period may be extended for reasons
    beyond SMS SERVICE's control"."""
    s = _extend(refund_request(play("fund")), "2026-06-21T10:00:00Z")
    on_day_16 = run(play("day=16 window", Scenario(messages=list(s.messages))))
    on_day_21 = run(play("day=21 window", s))
    assert on_day_16.refund("r1")["payout_due"] == "2026-06-21T10:00:00Z"
    assert on_day_16.refund("r1")["overdue"] is False
    assert on_day_21.refund("r1")["overdue"] is True
    extended = on_day_16.events("request", "r1")[-1]
    assert (type(extended).__name__, extended.reason, extended.policy, list(extended.rules)) == (
        "Extended", "payment system outage", "sms-service@1", ["request.period_extended"])


def test_without_an_extension_the_refund_is_overdue_after_14_days() -> None:
    outcome = run(play("day=16 window", refund_request(play("fund"))))
    assert outcome.refund("r1")["overdue"] is True


@pytest.mark.parametrize(("before", "until", "reason"), [
    ("", "2026-06-10T00:00:00Z", "not_an_extension"),
    ("paid", "2026-07-01T00:00:00Z", "not_open"),
])
def test_only_an_open_refund_can_be_extended_and_only_later(
    before: str, until: str, reason: str
) -> None:
    s = refund_request(play("fund"))
    if before == "paid":
        s.send("refund.paid", request="r1", fee=0)
    outcome = run(_extend(s, until))
    assert _rejection(outcome)[0] == reason


# --- Point 6: the early-cancel lock as a setting --------------------------------------------


def test_the_cancel_lock_setting_comes_from_the_environment() -> None:
    assert settings_from_env({"SMSLEDGER_CANCEL_LOCK": "120"}).cancel_lock == 120
    assert settings_from_env({}).cancel_lock is None
    ledger = bootstrap(Settings(store=memory_store_url(), cancel_lock=120))
    try:
        # The setting applies to every version of the policy.
        assert [v.policy.cancel_lock for v in ledger.policy.versions] == [
            timedelta(seconds=120)] * len(ledger.policy.versions)
        assert ledger.policy.in_force(None).ref == "sms-service@1"
    finally:
        ledger.close()


def test_a_negative_cancel_lock_is_refused_before_anything_opens() -> None:
    with pytest.raises(ValueError, match="cancel lock"):
        bootstrap(Settings(store=memory_store_url(), cancel_lock=-1))


@pytest.mark.parametrize("kind", ["order.cancel_requested", "order.cancel_failed"])
def test_cancel_inside_the_lock_is_refused_and_after_it_allowed(kind: str) -> None:
    """DESIGN §4: "the early-cancel lock (default 0 s; real providers use 120 s)"."""
    s = play("fund order issue")  # issued at 10:00:03
    s.later(timedelta(seconds=60)).customer(kind, "o1")
    s.later(timedelta(seconds=61)).customer(kind, "o1")
    outcome = run(s, cancel_lock=120)
    assert _rejection(outcome) == ("cancel_locked", ["order.cancel_lock"])
    assert outcome.order("o1")["state"] == "cancelled"
    requested = outcome.events("order", "o1")[0]
    assert (requested.cancel_lock, requested.policy) == (120, "sms-service@1")
    assert "order.cancel_lock" in outcome.events("order", "o1")[-1].rules


def test_an_order_keeps_the_lock_it_was_accepted_with() -> None:
    """Replays and later runs with another setting never re-decide an accepted order."""
    s = play("fund order issue")
    store = memory_store_url()
    first = run(s, store=store, cancel_lock=120)
    s.later(timedelta(seconds=30)).customer("order.cancel_requested", "o1")
    later = run(Scenario(messages=s.messages[-1:]).lines(), store=store, cancel_lock=0)
    assert later.rejection_reasons() == ["cancel_locked"]
    first.ledger.close()
