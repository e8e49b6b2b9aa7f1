"""The order lifecycle: one python-statemachine definition, the single source of truth.

The machine is never instantiated on the hot path: constructing one costs far more than
a dictionary lookup, so the transition table is derived from its class definition once,
at import, and the `Order` aggregate consults that table before emitting an event.
"""

from __future__ import annotations

from types import MappingProxyType

from statemachine import State, StateMachine


class OrderLifecycle(StateMachine):
    """States and transitions of one number activation (DESIGN §4)."""

    new = State(initial=True)
    requested = State()
    waiting_sms = State()
    sms_received = State()
    waiting_retry = State()
    # Not final: a complaint within the policy's complaint window reverses the capture.
    completed = State()
    cancelled = State(final=True)
    timed_out = State(final=True)
    failed = State(final=True)
    refunded = State(final=True)
    rejected = State(final=True)

    accept = new.to(requested)
    reject = new.to(rejected)
    issue_number = requested.to(waiting_sms)
    fail = requested.to(failed)
    receive_sms = waiting_sms.to(sms_received) | waiting_retry.to(sms_received)
    request_another_sms = sms_received.to(waiting_retry)
    complete = sms_received.to(completed) | waiting_retry.to(completed)
    cancel = requested.to(cancelled) | waiting_sms.to(cancelled)
    force_cancel = (
        requested.to(cancelled)
        | waiting_sms.to(cancelled)
        | sms_received.to(cancelled)
        | waiting_retry.to(cancelled)
    )
    time_out = waiting_sms.to(timed_out)
    refund = sms_received.to(refunded) | waiting_retry.to(refunded)
    reverse_completion = completed.to(refunded)


def _derive_table() -> dict[tuple[str, str], str]:
    table: dict[tuple[str, str], str] = {}
    for state in OrderLifecycle.states:
        for transition in state.transitions:
            for event in str(transition.event).split():
                table[(transition.source.id, event)] = transition.target.id
    return table


TRANSITIONS: MappingProxyType[tuple[str, str], str] = MappingProxyType(_derive_table())
STATES: tuple[str, ...] = tuple(s.id for s in OrderLifecycle.states)
# Transitions out of a settled order: the money was captured, but a complaint can still
# reverse it.
AFTER_SALE_TRANSITIONS: frozenset[str] = frozenset({"reverse_completion"})
SETTLED_STATES: frozenset[str] = frozenset(
    source for source, event in TRANSITIONS if event in AFTER_SALE_TRANSITIONS
)
# The states an order's activation ends in: the machine's final states and the settled
# ones. Nothing is held for an order in them, and no provider message moves it any more.
FINAL_STATES: frozenset[str] = frozenset(
    s.id for s in OrderLifecycle.states if s.final
) | SETTLED_STATES
# The states that hold the order's price.
OPEN_STATES: frozenset[str] = frozenset(
    s.id for s in OrderLifecycle.states if not s.initial
) - FINAL_STATES
TRANSITION_NAMES: frozenset[str] = frozenset(event for _, event in TRANSITIONS)


def target_of(state: str, transition: str) -> str | None:
    """The state `transition` leads to from `state`, or None when the machine forbids it."""
    return TRANSITIONS.get((state, transition))
