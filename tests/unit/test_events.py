"""Domain events built on the hot path are the same objects the library's constructor makes,
and anything short of exactly the event's attributes still fails as the constructor does."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from smsledger.domain.account import Account
from smsledger.domain.aggregate import new_event
from smsledger.domain.order import Order

T0 = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)


def _issued_state() -> dict[str, object]:
    return {"originator_id": uuid4(), "originator_version": 2, "timestamp": T0,
            "provider": "p1", "phone": "+100", "activation": "a1", "price": 50,
            "deadline": T0}


def test_an_event_built_directly_equals_the_constructed_one() -> None:
    state = _issued_state()
    built = new_event(Order.Issued, dict(state))
    assert type(built) is Order.Issued
    assert built == Order.Issued(**state)  # type: ignore[arg-type]
    assert built.provider == "p1"
    assert built.originator_version == 2
    with pytest.raises(AttributeError):
        built.price = 1  # type: ignore[misc]  # still frozen


@pytest.mark.parametrize("change", ["missing", "unknown"])
def test_a_state_that_is_not_exactly_the_fields_fails_like_the_constructor(change: str) -> None:
    state = _issued_state()
    if change == "missing":
        del state["timestamp"]
    else:
        state["colour"] = "red"
    with pytest.raises(TypeError):
        new_event(Order.Issued, state)


def test_an_originator_id_that_is_not_a_uuid_is_refused() -> None:
    state = _issued_state()
    state["originator_id"] = "not-a-uuid"
    with pytest.raises(TypeError, match="non-UUID"):
        new_event(Order.Issued, state)


def test_aggregates_record_events_that_replay_to_the_same_state() -> None:
    account = Account.open(id=uuid4(), account="acc-1", currency="USD", eu_consumer=False,
                           registered=True, at=T0)
    account.deposit(deposit="d1", amount=500, method="card", at=T0)
    events = account.collect_events()
    assert [type(e) for e in events] == [Account.Opened, Account.Deposited]
    replayed = None
    for event in events:
        replayed = event.mutate(replayed)
    assert replayed is not None
    assert replayed.available == account.available == 500
    assert replayed.version == account.version == 2
