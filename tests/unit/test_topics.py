"""Stored topics resolve to this ledger's own event classes only, one aggregate module at a
time, and the module table names the aggregates as the library's topics do."""

from __future__ import annotations

import pytest
from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

from smsledger.domain.account import Account
from smsledger.domain.order import Order
from smsledger.domain.refund import RefundRequest
from smsledger.infra.stores.transcoding import aggregate_topics, is_event_topic

AGGREGATES = (Account, Order, RefundRequest)


def test_the_module_table_names_each_aggregate_by_its_topic() -> None:
    assert aggregate_topics() == {get_topic(cls) for cls in AGGREGATES}


@pytest.mark.parametrize("aggregate", AGGREGATES, ids=lambda cls: cls.__name__)
def test_every_event_class_of_an_aggregate_is_an_event_topic(aggregate: type) -> None:
    events = [m for m in vars(aggregate).values()
              if isinstance(m, type) and issubclass(m, Aggregate.Event)]
    assert events
    assert all(is_event_topic(get_topic(event)) for event in events)


@pytest.mark.parametrize("topic", [
    "os:system",
    "smsledger.domain.order:Order",
    "smsledger.domain.ids:uuid5",
    "smsledger.domain.order:Order.NoSuchEvent",
    "smsledger.domain.order",
])
def test_anything_else_is_not(topic: str) -> None:
    assert not is_event_topic(topic)
