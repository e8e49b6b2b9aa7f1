"""The order state machine: the derived table is DESIGN §4, and `Order` refuses the rest."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from smsledger.domain.errors import Refused, TransitionRejected
from smsledger.domain.lifecycle import (
    FINAL_STATES,
    OPEN_STATES,
    SETTLED_STATES,
    STATES,
    TRANSITION_NAMES,
    TRANSITIONS,
    OrderLifecycle,
    target_of,
)
from smsledger.domain.order import Order

T0 = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=20)
LATER = T0 + timedelta(minutes=5)

# DESIGN §4, written out by hand: (from, transition) -> to.
OPEN = ("requested", "waiting_sms", "sms_received", "waiting_retry")
EXPECTED: dict[tuple[str, str], str] = {
    ("new", "accept"): "requested",  # order.requested, funds and account OK
    ("new", "reject"): "rejected",  # order.requested, refused
    ("requested", "issue_number"): "waiting_sms",
    ("requested", "fail"): "failed",  # number.unavailable, or no number within the window
    ("waiting_sms", "receive_sms"): "sms_received",
    ("requested", "cancel"): "cancelled",
    ("waiting_sms", "cancel"): "cancelled",
    ("waiting_sms", "time_out"): "timed_out",  # window ends with no SMS
    ("sms_received", "request_another_sms"): "waiting_retry",
    ("waiting_retry", "receive_sms"): "sms_received",
    ("sms_received", "complete"): "completed",  # order.completed, or window ends
    ("waiting_retry", "complete"): "completed",
    ("sms_received", "refund"): "refunded",  # wrong code / incomplete text, if refunded
    ("waiting_retry", "refund"): "refunded",
    # a complaint within the policy's complaint window after completion
    ("completed", "reverse_completion"): "refunded",
    # number_already_used (sms-service), account blocked or closed: any open state.
    **{(state, "force_cancel"): "cancelled" for state in OPEN},
}
DESIGN_STATES = {
    "requested", "waiting_sms", "sms_received", "waiting_retry", "completed", "cancelled",
    "timed_out", "failed", "refunded", "rejected",
}
# Closed: nothing held, no provider message moves them. All final except `completed`, which
# a complaint can still reverse (`reverse_completion`).
DESIGN_FINAL = {"completed", "cancelled", "timed_out", "failed", "refunded", "rejected"}
SETTLED = {"completed"}
AFTER_SALE = {"reverse_completion"}


def test_derived_table_is_exactly_design_section_4() -> None:
    assert dict(TRANSITIONS) == EXPECTED


def test_states_are_the_design_states_plus_the_initial_one() -> None:
    assert set(STATES) == DESIGN_STATES | {"new"}
    assert set(FINAL_STATES) == DESIGN_FINAL
    assert set(OPEN_STATES) == set(OPEN)
    assert TRANSITION_NAMES == {t for _, t in EXPECTED}


@pytest.mark.parametrize("state", sorted(DESIGN_FINAL))
def test_closed_states_have_no_outgoing_transitions_but_the_after_sale_ones(state: str) -> None:
    allowed = AFTER_SALE if state in SETTLED else set()
    assert {key[1] for key in TRANSITIONS if key[0] == state} == allowed
    assert all(target_of(state, t) is None for t in TRANSITION_NAMES - allowed)


def test_only_the_settled_state_is_not_final_in_the_machine() -> None:
    machine_final = {s.id for s in OrderLifecycle.states if s.final}
    assert DESIGN_FINAL - machine_final == SETTLED == set(SETTLED_STATES)


@pytest.mark.parametrize("state", sorted(DESIGN_STATES - DESIGN_FINAL))
def test_every_open_state_leads_somewhere_final(state: str) -> None:
    reachable, frontier = {state}, [state]
    while frontier:
        current = frontier.pop()
        for (source, _), target in TRANSITIONS.items():
            if source == current and target not in reachable:
                reachable.add(target)
                frontier.append(target)
    assert reachable & DESIGN_FINAL


# --- The aggregate ------------------------------------------------------------------------


def requested() -> Order:
    return Order.request(
        id=uuid4(), order="o1", account="a1", service="telegram", country="KZ", price=100,
        at=T0, window=WINDOW, policy="sms-service@1",
    )


def _issue(o: Order) -> None:
    o.issue(provider="p1", phone="+7700", activation="x", price=None,
            at=T0 + timedelta(seconds=1), window=WINDOW)


def _sms(o: Order) -> None:
    o.receive_sms(text="code 1", code="1", at=T0 + timedelta(seconds=2))


COMMANDS: dict[str, Callable[[Order], None]] = {
    "issue_number": lambda o: o.issue(provider="p2", phone="+1", activation="y", price=None,
                                      at=LATER, window=WINDOW),
    "fail": lambda o: o.fail(reason="no_numbers", at=LATER),
    "receive_sms": lambda o: o.receive_sms(text="code 2", code="2", at=LATER),
    "request_another_sms": lambda o: o.request_another_sms(at=LATER),
    "complete": lambda o: o.complete(at=LATER, by="customer"),
    "cancel": lambda o: o.cancel(at=LATER, reason="customer", policy="sms-service@1"),
    "force_cancel": lambda o: o.cancel(at=LATER, reason="account_closed", policy="",
                                       forced=True),
    # The window's end has no command of its own (`expire` picks by state): ask the check.
    "time_out": lambda o: o.check("time_out"),
    "refund": lambda o: o.refund(complaint="wrong_code", at=LATER, policy="sms-service@1",
                                 rule="order.wrong_code"),
    "reverse_completion": lambda o: o.reverse_completion(
        complaint="wrong_code", at=LATER, policy="sms-service@1", rules=("order.wrong_code",)),
}

PATHS: dict[str, Callable[[], Order]] = {
    "requested": requested,
    "waiting_sms": lambda: _then(requested(), _issue),
    "sms_received": lambda: _then(requested(), _issue, _sms),
    "waiting_retry": lambda: _then(requested(), _issue, _sms,
                                   lambda o: o.request_another_sms(at=T0 + timedelta(seconds=3))),
    "completed": lambda: _then(PATHS["sms_received"](), COMMANDS["complete"]),
    "cancelled": lambda: _then(requested(), COMMANDS["cancel"]),
    "timed_out": lambda: _then(PATHS["waiting_sms"](), Order.expire),
    "failed": lambda: _then(requested(), COMMANDS["fail"]),
    "refunded": lambda: _then(PATHS["sms_received"](), COMMANDS["refund"]),
    "rejected": lambda: Order.reject(
        id=uuid4(), order="o1", account="a1", service="telegram", country="KZ", price=100,
        at=T0, reason="insufficient_funds"),
}


def _then(order: Order, *steps: Callable[[Order], None]) -> Order:
    for step in steps:
        step(order)
    return order


def test_every_state_is_reachable_by_the_paths_used_here() -> None:
    assert {state: PATHS[state]().state for state in PATHS} == {s: s for s in DESIGN_STATES}


ALLOWED = sorted(k for k in TRANSITIONS if k[0] != "new")
FORBIDDEN = sorted(
    (state, name) for state in DESIGN_STATES for name in COMMANDS if (state, name) not in EXPECTED
)


@pytest.mark.parametrize(("state", "transition"), ALLOWED,
                         ids=[f"{s}-{t}" for s, t in ALLOWED])
def test_order_takes_every_transition_of_the_table(state: str, transition: str) -> None:
    order = PATHS[state]()
    if transition == "time_out":
        order.expire()
    else:
        COMMANDS[transition](order)
    assert order.state == EXPECTED[(state, transition)]


@pytest.mark.parametrize(("state", "transition"), FORBIDDEN,
                         ids=[f"{s}-{t}" for s, t in FORBIDDEN])
def test_order_refuses_every_transition_the_table_lacks(state: str, transition: str) -> None:
    order = PATHS[state]()
    version = order.version
    with pytest.raises(TransitionRejected) as refused:
        COMMANDS[transition](order)
    assert (order.state, order.version) == (state, version)
    assert refused.value.state == state
    if state in DESIGN_FINAL:
        assert refused.value.reason == "order_closed"


@pytest.mark.parametrize("state", ["sms_received", "waiting_retry"])
def test_cancel_after_code_is_rejected_code_received(state: str) -> None:
    order = PATHS[state]()
    with pytest.raises(TransitionRejected) as refused:
        COMMANDS["cancel"](order)
    assert refused.value.reason == "code_received"


@pytest.mark.parametrize(
    ("state", "after"),
    [("requested", "failed"), ("waiting_sms", "timed_out"), ("sms_received", "completed"),
     ("waiting_retry", "completed")],
)
def test_window_end_outcome_depends_on_how_far_the_order_got(state: str, after: str) -> None:
    order = PATHS[state]()
    deadline = order.deadline
    order.expire()
    assert order.state == after
    assert order.modified_on == deadline


@pytest.mark.parametrize("state", sorted(DESIGN_FINAL))
def test_a_final_order_cannot_expire(state: str) -> None:
    order = PATHS[state]()
    with pytest.raises(Refused):
        order.expire()


def test_the_window_starts_at_issue() -> None:
    order = requested()
    assert order.deadline == T0 + WINDOW
    _issue(order)
    assert order.deadline == T0 + timedelta(seconds=1) + WINDOW


def test_issue_above_the_held_price_is_refused() -> None:
    order = requested()
    with pytest.raises(Refused) as refused:
        order.issue(provider="p", phone="1", activation="a", price=101, at=LATER, window=WINDOW)
    assert refused.value.reason == "price_above_hold"
    assert order.state == "requested"


def test_cancel_inside_the_early_cancel_lock_is_refused() -> None:
    order = PATHS["waiting_sms"]()
    with pytest.raises(Refused) as refused:
        order.cancel(at=T0 + timedelta(seconds=60), reason="customer", policy="p",
                     lock=timedelta(seconds=120))
    assert refused.value.reason == "cancel_locked"
    order.cancel(at=T0 + timedelta(seconds=121), reason="customer", policy="p",
                 lock=timedelta(seconds=120))
    assert order.state == "cancelled"


def test_capture_is_the_issued_price_and_the_rest_is_released() -> None:
    order = requested()
    order.issue(provider="p", phone="1", activation="a", price=70, at=LATER, window=WINDOW)
    _sms(order)
    order.complete(at=LATER, by="customer")
    assert (order.charged, order.released) == (70, 30)
