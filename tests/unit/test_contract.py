"""The inbound contract (DESIGN §2, §4 time rules): acceptance, idempotency, event time,
ownership, dead letters and parking — through the real ingest path."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import orjson
import pytest

from smsledger.consumers.engine import Engine
from smsledger.consumers.ingest import ingest_lines
from smsledger.consumers.messages import CONTRACT
from smsledger.consumers.schedule import Ownership
from smsledger.domain import ids
from tests.scenario import Outcome, Scenario, run

MIN = timedelta(minutes=1)
AT = "2026-06-01T10:00:00Z"
DEPOSIT = {"account": "a1", "deposit": "dx", "amount": 10, "currency": "USD", "method": "card"}


def raw(message_id: str, kind: str, data: dict[str, Any] | None = None, at: Any = AT) -> bytes:
    return orjson.dumps({"id": message_id, "type": kind, "at": at, "data": data or {}})


def funded(s: Scenario | None = None, amount: int = 1000) -> Scenario:
    s = s or Scenario()
    s.account()
    s.deposit(amount, deposit="d1")
    return s


def with_code(s: Scenario, order: str = "o1", code: str | None = "12345") -> Scenario:
    s.order(order, 100)
    s.issue(order)
    s.sms(order, code)
    return s


def refund(s: Scenario, details: bool = True) -> Scenario:
    s.send("refund.requested", request="r1", account="a1", reason="other",
           details_provided=details)
    return s


# --- Every message type is accepted in its valid form ------------------------------------


def _ordered() -> Scenario:
    s = funded()
    s.order("o1", 100)
    return s


def _issued() -> Scenario:
    s = _ordered()
    s.issue("o1")
    return s


def _state(state: str) -> Callable[[Outcome], bool]:
    return lambda o: o.order("o1")["state"] == state


def _status(status: str) -> Callable[[Outcome], bool]:
    return lambda o: o.query("balances", extras=True)[0]["status"] == status


OA = {"order": "o1", "account": "a1"}
# type -> (what comes before, data, the effect that must show)
VALID: dict[str, tuple[Callable[[], Scenario], dict[str, Any], Callable[[Outcome], bool]]] = {
    "account.opened": (Scenario, {"account": "a1", "currency": "EUR", "eu_consumer": True},
                       lambda o: o.balance()["currency"] == "EUR"),
    "waiver.accepted": (funded, {"account": "a1"},
                        lambda o: o.ledger.opened.store.get(ids.account_id("a1")).waiver
                        is not None),
    "deposit.succeeded": (Scenario, {**DEPOSIT, "method": "crypto"},
                          lambda o: o.balance()["available"] == 10),
    "order.requested": (funded, {**OA, "service": "wa", "country": "DE", "price": 250},
                        lambda o: o.balance()["held"] == 250),
    "number.issued": (_ordered, {"order": "o1", "provider": "p9", "phone": "+49",
                                 "activation": "x1", "price": 80},
                      lambda o: o.order("o1")["provider"] == "p9"),
    "number.unavailable": (_ordered, {"order": "o1", "reason": "provider_error"},
                           _state("failed")),
    "sms.delivered": (_issued, {"order": "o1", "text": "code 1", "code": "1"},
                      _state("sms_received")),
    "order.another_sms_requested": (lambda: with_code(funded()), OA, _state("waiting_retry")),
    "order.completed": (lambda: with_code(funded()), OA, _state("completed")),
    "order.cancel_requested": (_issued, OA, _state("cancelled")),
    "order.wrong_code_reported": (lambda: with_code(funded()), OA, _state("refunded")),
    "order.incomplete_sms_reported": (lambda: with_code(funded(), code=None), OA,
                                      _state("refunded")),
    "refund.requested": (funded, {"request": "r1", "account": "a1", "amount": 300,
                                  "reason": "service_problem", "details_provided": True},
                         lambda o: o.refund("r1")["amount"] == 300),
    "refund.details_provided": (lambda: refund(funded(), details=False), {"request": "r1"},
                                lambda o: o.refund("r1")["status"] == "approved"),
    "refund.paid": (lambda: refund(funded()), {"request": "r1", "fee": 5},
                    lambda o: o.refund("r1")["status"] == "paid"),
    "order.cancel_failed": (_issued, {**OA, "detail": "error 500 on cancel"},
                            _state("cancelled")),
    "refund.extended": (lambda: refund(funded()),
                        {"request": "r1", "until": "2026-07-01T00:00:00Z",
                         "reason": "payment system outage"},
                        lambda o: o.refund("r1")["payout_due"] == "2026-07-01T00:00:00Z"),
    "account.blocked": (funded, {"account": "a1", "reason": "law_enforcement"},
                        _status("blocked")),
    "account.closed": (funded, {"account": "a1"}, _status("closed")),
    "clock.tick": (funded, {}, lambda o: o.balance()["available"] == 1000),
}


@pytest.mark.parametrize("kind", sorted(set(VALID) | set(CONTRACT)))
def test_every_message_type_is_accepted_in_its_valid_form(kind: str) -> None:
    prefix, data, effect = VALID[kind]
    s = prefix()
    s.send(kind, **data)
    outcome = run(s)
    assert outcome.counts["applied"] == len(s.messages)
    assert outcome.query("dead-letters") == []
    assert outcome.query("rejections") == []
    assert effect(outcome)


def test_optional_fields_take_their_defaults() -> None:
    lines = [raw("m1", "deposit.succeeded", {"account": "a1", "deposit": "d1", "amount": 500,
                                              "method": "card"}),
             raw("m2", "clock.tick", None)]
    outcome = run(lines)
    assert outcome.balance()["currency"] == "USD"
    assert outcome.counts["applied"] == 2


# --- Idempotency -------------------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [1, 100])
def test_a_message_id_seen_before_has_no_effect_whatever_its_payload(batch_size: int) -> None:
    s = funded()
    replay = dict(s.messages[1], data={**s.messages[1]["data"], "deposit": "d2", "amount": 5})
    outcome = run(s.lines() + [orjson.dumps(replay), s.lines()[1]], batch_size=batch_size)
    assert outcome.balance()["deposited"] == 1000
    assert outcome.counts["duplicates"] == 1  # the same bytes again: a redelivery
    (letter,) = outcome.query("dead-letters")  # other bytes under the id: shown, no effect
    assert (letter["message"], letter["reason"]) == (s.messages[1]["id"], "duplicate_id")


def test_every_message_delivered_twice_gives_the_same_state_as_once() -> None:
    s = funded()
    with_code(s)
    s.customer("order.completed", "o1")
    s.order("o2", 100)
    s.issue("o2")
    s.later(30 * MIN).send("clock.tick")
    refund(s)
    once = run(s)
    twice = run([line for line in s.lines() for _ in range(2)], batch_size=3)
    for query in ("balances", "orders", "deposits", "refunds"):
        assert twice.query(query) == once.query(query)
    assert twice.counts["duplicates"] == len(s.messages)


def test_a_deposit_id_is_credited_once_under_a_new_message_id() -> None:
    s = funded()
    s.deposit(1000, deposit="d1")
    outcome = run(s)
    assert outcome.balance()["deposited"] == 1000
    assert outcome.counts["ignored"] == 1
    assert outcome.query("rejections") == []


def test_a_duplicate_number_issued_has_no_effect() -> None:
    s = _issued()
    s.later(10 * MIN)
    s.issue("o1", provider="p2", price=50)
    s.later(11 * MIN).send("clock.tick")  # 21 min after the first issue
    outcome = run(s)
    order = outcome.order("o1")
    assert (order["provider"], order["state"], order["released"]) == ("p1", "timed_out", 100)
    assert outcome.counts["ignored"] == 1


def test_an_order_id_is_held_once_under_a_new_message_id() -> None:
    s = _ordered()
    s.order("o1", 100)
    outcome = run(s)
    assert outcome.balance()["held"] == 100
    assert outcome.rejection_reasons() == ["duplicate_order"]


def test_a_refund_request_id_is_decided_once() -> None:
    s = refund(refund(funded()))
    s.send("refund.paid", request="r1", fee=1)
    s.send("refund.paid", request="r1", fee=2)
    outcome = run(s)
    assert outcome.rejection_reasons() == ["duplicate_request"]
    assert (outcome.refund("r1")["fee"], outcome.balance()["refunded_out"]) == (1, 1000)


# --- Ownership ----------------------------------------------------------------------------

CUSTOMER_ORDER_TYPES = [
    "order.another_sms_requested", "order.completed", "order.cancel_requested",
    "order.wrong_code_reported", "order.incomplete_sms_reported",
]


@pytest.mark.parametrize("kind", CUSTOMER_ORDER_TYPES)
def test_a_customer_message_from_another_account_is_rejected_not_owner(kind: str) -> None:
    s = with_code(funded(), code=None)
    s.send("account.opened", account="a2", currency="USD", eu_consumer=False)
    s.customer(kind, "o1", account="a2")
    outcome = run(s)
    assert outcome.rejection_reasons() == ["not_owner"]
    assert outcome.order("o1")["state"] == "sms_received"
    assert outcome.balance()["held"] == 100


# --- Event time ---------------------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [1, 100])
@pytest.mark.parametrize("tick", [True, False], ids=["after a tick", "the sms alone"])
def test_a_late_sms_for_a_timed_out_order_is_ignored(tick: bool, batch_size: int) -> None:
    s = _issued()
    s.later(21 * MIN)
    if tick:
        s.send("clock.tick")
    s.sms("o1")
    outcome = run(s, batch_size=batch_size)
    assert outcome.order("o1")["state"] == "timed_out"
    assert (outcome.balance()["available"], outcome.balance()["held"]) == (1000, 0)
    assert outcome.counts["ignored"] == 1


class _OwnsNoDeadlines(Ownership):
    """A consumer-group member that has just been handed these accounts' partitions."""

    def account(self, account: str) -> bool:
        return False


@pytest.mark.parametrize("orders", [1, 2])
def test_a_member_taking_an_account_over_settles_its_overtaken_holds_first(orders: int) -> None:
    s = _issued()
    if orders == 2:
        s.order("o2", 100)
    head = len(s.messages)
    s.later(21 * MIN)
    s.order("o3", 100)
    lines = s.lines()
    outcome = run(lines[:head])
    ledger = outcome.ledger
    engine = Engine(ledger.opened.store, ledger.policy, ownership=_OwnsNoDeadlines())
    ingest_lines(engine, lines[head:], source="test")  # no deadline of a1 in its schedule
    ledger.catch_up()
    assert outcome.order("o1")["state"] == "timed_out"
    assert outcome.order("o3")["state"] == "requested"
    assert outcome.balance()["held"] == 100


@pytest.mark.parametrize(
    ("kind", "sms", "state", "available"),
    [("order.cancel_requested", False, "timed_out", 1000),
     ("order.completed", True, "completed", 900),
     ("order.another_sms_requested", True, "completed", 900)],
)
def test_a_customer_message_past_the_deadline_finds_the_order_closed(
    kind: str, sms: bool, state: str, available: int
) -> None:
    s = _issued()
    if sms:
        s.sms("o1")
    s.later(25 * MIN)
    s.customer(kind, "o1")
    outcome = run(s)
    assert outcome.order("o1")["state"] == state
    assert outcome.rejection_reasons() == ["order_closed"]
    assert (outcome.balance()["available"], outcome.balance()["held"]) == (available, 0)


@pytest.mark.parametrize("batch_size", [1, 100])
def test_an_sms_in_time_counts_even_after_later_messages(batch_size: int) -> None:
    s = _issued()  # issued at 10:00:03, deadline 10:20:03
    s.at(15 * MIN).send("deposit.succeeded", account="a2", deposit="x", amount=5,
                        currency="USD", method="card")
    s.at(19 * MIN).order("o2", 100)
    s.at(10 * MIN).sms("o1")
    s.at(45 * MIN).send("clock.tick")
    outcome = run(s, batch_size=batch_size)
    assert outcome.order("o1")["state"] == "completed"
    assert outcome.order("o2")["state"] == "failed"
    assert outcome.balance()["spent"] == 100


@pytest.mark.parametrize(("late", "state"), [(0, "sms_received"), (1, "timed_out")],
                         ids=["at the deadline", "a second after"])
def test_the_window_includes_its_last_second(late: int, state: str) -> None:
    s = _issued()  # issued at 10:00:03
    s.at(20 * MIN + timedelta(seconds=3 + late)).send("clock.tick")
    s.at(20 * MIN + timedelta(seconds=3 + late)).sms("o1")
    assert run(s).order("o1")["state"] == state


@pytest.mark.parametrize(
    ("tick_after", "state"), [(19 * MIN, "waiting_sms"), (21 * MIN, "timed_out")]
)
def test_the_watermark_times_out_orders_without_further_messages(
    tick_after: timedelta, state: str
) -> None:
    s = _issued()
    s.later(tick_after).send("account.opened", account="zz", currency="USD", eu_consumer=False)
    outcome = run(s)
    assert outcome.order("o1")["state"] == state
    assert outcome.balance()["held"] == (100 if state == "waiting_sms" else 0)


def test_funds_of_an_overtaken_deadline_are_released_before_the_next_order() -> None:
    s = funded(amount=100)
    s.order("o1", 100)
    s.issue("o1")
    s.later(30 * MIN).order("o2", 100)
    outcome = run(s)
    assert (outcome.order("o1")["state"], outcome.order("o2")["state"]) == (
        "timed_out", "requested")


def test_cancel_after_code_is_a_queryable_rejection_not_a_dead_letter() -> None:
    s = with_code(funded())
    s.customer("order.cancel_requested", "o1")
    outcome = run(s)
    (rejection,) = outcome.query("rejections")
    assert {k: rejection[k] for k in ("type", "account", "subject", "reason")} == {
        "type": "order.cancel_requested", "account": "a1", "subject": "o1",
        "reason": "code_received"}
    assert outcome.query("dead-letters") == []
    assert outcome.order("o1")["state"] == "sms_received"


@pytest.mark.parametrize(("before", "reason"), [
    ("", "insufficient_funds"), ("account.blocked", "account_blocked"),
    ("account.closed", "account_closed"), ("unknown", "unknown_account"),
])
def test_a_refused_order_is_recorded_rejected_not_dead_lettered(before: str, reason: str) -> None:
    s = funded(amount=50 if not before else 1000)
    if before == "account.blocked":
        s.send(before, account="a1", reason="abuse")
    elif before == "account.closed":
        s.send(before, account="a1")
    s.order("o1", 100, account="nobody" if before == "unknown" else "a1")
    outcome = run(s)
    assert (outcome.order("o1")["state"], outcome.order("o1")["reason"]) == ("rejected", reason)
    assert outcome.query("dead-letters") == []
    assert outcome.balance()["held"] == 0


# --- Bad input ----------------------------------------------------------------------------

GONE = object()


def bad(message_id: str, **changes: Any) -> bytes:
    data = {k: v for k, v in {**DEPOSIT, **changes}.items() if v is not GONE}
    return raw(message_id, "deposit.succeeded", data)


BAD_INPUT = [
    ("truncated JSON", b'{"id": "b1", "type": "deposit.succeeded", "da', "malformed_json"),
    ("not UTF-8", b"\xff\xfe{}", "malformed_json"),
    ("not an object", b'["b2", "clock.tick"]', "not_an_object"),
    ("a bare string", b'"hello"', "not_an_object"),
    ("unknown type", raw("b3", "order.teleported", {}), "unknown_type"),
    ("missing id", orjson.dumps({"type": "clock.tick", "at": AT}), "bad_id"),
    ("missing field", bad("b4", amount=GONE), "missing_field"),
    ("null required field", bad("b5", method=None), "bad_field"),
    ("data not an object", raw("b6", "deposit.succeeded", [1]), "bad_field"),  # type: ignore
    ("string amount", bad("b7", amount="10"), "bad_amount"),
    ("bool amount", bad("b8", amount=True), "bad_amount"),
    ("float amount", bad("b9", amount=10.5), "bad_amount"),
    ("negative amount", bad("b10", amount=-10), "bad_amount"),
    ("zero amount", bad("b11", amount=0), "bad_amount"),
    ("absurd amount", bad("b12", amount=10**15), "bad_amount"),
    ("string price", raw("b13", "order.requested", {"account": "a1", "order": "o9",
                                                    "service": "s", "country": "c",
                                                    "price": "1"}), "bad_amount"),
    ("bad currency code", bad("b14", currency="usd"), "bad_currency"),
    ("unknown method", bad("b15", method="paypal"), "bad_field"),
    ("mistyped flag", raw("b16", "account.opened", {"account": "a1", "eu_consumer": "yes"}),
     "bad_field"),
    ("currency mismatch", bad("b17", currency="EUR"), "currency_mismatch"),
    ("bad timestamp", raw("b18", "clock.tick", at="yesterday"), "bad_timestamp"),
    ("impossible date", raw("b19", "clock.tick", at="2026-13-01T00:00:00Z"), "bad_timestamp"),
    ("no UTC offset", raw("b20", "clock.tick", at="2026-06-01T10:00:00"), "bad_timestamp"),
    ("numeric timestamp", raw("b21", "clock.tick", at=1780000000), "bad_timestamp"),
]


@pytest.mark.parametrize(("case", "line", "reason"), BAD_INPUT, ids=[c[0] for c in BAD_INPUT])
def test_bad_input_is_dead_lettered_and_processing_continues(
    case: str, line: bytes, reason: str
) -> None:
    s = funded()
    after = Scenario(start=s.start + MIN)
    after.deposit(5, deposit="d2")
    after.messages[0]["id"] = "after"
    outcome = run(s.lines() + [line] + after.lines())
    (letter,) = outcome.query("dead-letters")
    assert letter["reason"] == reason, case
    assert letter["raw"].encode() == line or b"\xff" in line
    assert outcome.balance()["deposited"] == 1005
    assert outcome.counts["dead_lettered"] == 1


def test_a_dead_lettered_message_id_counts_as_seen_for_the_same_bytes() -> None:
    outcome = run(funded().lines() + [bad("m-dup", amount=-1), bad("m-dup", amount=-1)])
    assert outcome.balance()["deposited"] == 1000
    assert outcome.counts["duplicates"] == 1


# --- Parking ------------------------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [1, 100])
def test_a_message_before_its_order_is_parked_and_applied_when_the_order_appears(
    batch_size: int
) -> None:
    s = funded()
    s.issue("o1")
    redelivered = dict(s.messages[-1], data={**s.messages[-1]["data"], "provider": "p2"})
    s.order("o1", 100)
    s.sms("o1")
    lines = s.lines()
    lines.insert(3, orjson.dumps(redelivered))  # same id while parked, other payload
    outcome = run(lines, batch_size=batch_size)
    assert outcome.order("o1")["state"] == "sms_received"
    assert outcome.order("o1")["provider"] == "p1"
    assert [d["reason"] for d in outcome.query("dead-letters")] == ["duplicate_id"]


def test_a_parked_message_is_dead_lettered_after_the_bound() -> None:
    s = funded()
    s.issue("o1")
    s.later(2 * 60 * MIN).order("o1", 100)
    outcome = run(s)
    assert [d["reason"] for d in outcome.query("dead-letters")] == ["unknown_order"]
    assert outcome.order("o1")["state"] == "requested"


@pytest.mark.parametrize(
    ("kind", "data", "reason"),
    [("number.issued", {"order": "ghost", "provider": "p", "phone": "1", "activation": "a"},
      "unknown_order"),
     ("order.completed", {"order": "ghost", "account": "a1"}, "unknown_order"),
     ("refund.details_provided", {"request": "ghost"}, "unknown_request")],
)
def test_a_message_whose_subject_never_appears_is_dead_lettered(
    kind: str, data: dict[str, Any], reason: str
) -> None:
    s = funded()
    s.send(kind, **data)
    outcome = run(s)
    (letter,) = outcome.query("dead-letters")
    assert (letter["reason"], letter["message"]) == (reason, s.messages[-1]["id"])
    assert outcome.query("rejections") == []
