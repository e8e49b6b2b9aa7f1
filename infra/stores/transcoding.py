"""orjson transcoding of event state: one C call each way instead of the stdlib encoder;
stored topics resolved only to this ledger's own event classes."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from importlib import import_module
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Mapper, StoredEvent, Transcoder
from eventsourcing.utils import get_topic

# The ledger's aggregates by the module that defines each: a stored topic names a module,
# and only these modules may be imported to resolve one.
AGGREGATE_MODULES = {
    "smsledger.domain.account": "Account",
    "smsledger.domain.order": "Order",
    "smsledger.domain.refund": "RefundRequest",
}


@cache
def aggregate_topics() -> frozenset[str]:
    return frozenset(f"{module}:{name}" for module, name in AGGREGATE_MODULES.items())


def is_event_topic(topic: str) -> bool:
    """Whether `topic` is one of this ledger's event classes. A stored topic is a module
    path and a name, which the library would import to resolve: only the aggregates'
    modules are imported, each on the first of its events, so a command that reads one
    order's events does not import the accounts' and refund requests' classes."""
    module = topic.partition(":")[0]
    return module in AGGREGATE_MODULES and topic in _events_of(module)


@cache
def _events_of(module: str) -> dict[str, type]:
    aggregate = getattr(import_module(module), AGGREGATE_MODULES[module])
    return {
        get_topic(member): member
        for member in vars(aggregate).values()
        if isinstance(member, type) and issubclass(member, Aggregate.Event)
    }


class UnknownTopicError(ValueError):
    """A stored event names a class (or, created, an aggregate) that is not this ledger's."""

    def __init__(self, stored: StoredEvent, topic: str) -> None:
        self.topic = topic
        super().__init__(
            f"the stored event {stored.originator_id} version {stored.originator_version}"
            f" names {topic!r}, which is not an event of this ledger: the store was altered"
            " (nothing was imported; `smsledger audit` reports the whole log)"
        )

# Event attributes that hold datetimes; orjson writes them as RFC 3339 strings.
DATETIME_FIELDS = frozenset(
    {"timestamp", "deadline", "details_due", "review_due", "payout_due"}
)


class OrjsonTranscoder(Transcoder):
    """Encodes the flat, JSON-native event state of this project's events."""

    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(obj)

    def decode(self, data: bytes) -> Any:
        state = orjson.loads(data)
        for name in DATETIME_FIELDS.intersection(state):
            value = state[name]
            if value is not None:
                state[name] = datetime.fromisoformat(value)
        return state


class FastMapper(Mapper[UUID]):
    """The library's mapper with the per-event work trimmed: topics cached per class and
    the state encoded in one orjson call. Used only without cipher and compressor."""

    def __init__(self, transcoder: Transcoder) -> None:
        super().__init__(transcoder=transcoder)
        self._topics: dict[type, str] = {}

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        if not is_event_topic(stored_event.topic):
            raise UnknownTopicError(stored_event, stored_event.topic)
        event = super().to_domain_event(stored_event)
        created = getattr(event, "originator_topic", None)
        if created is not None and created not in aggregate_topics():
            raise UnknownTopicError(stored_event, created)
        return event

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        cls = type(domain_event)
        topic = self._topics.get(cls)
        if topic is None:
            if getattr(cls, "class_version", 1) > 1:
                return super().to_stored_event(domain_event)
            topic = self._topics[cls] = get_topic(cls)
        state = dict(domain_event.__dict__)
        stored = object.__new__(StoredEvent)  # a frozen dataclass: its __init__ costs per field
        stored.__dict__.update(
            originator_id=state.pop("originator_id"),
            originator_version=state.pop("originator_version"),
            topic=topic,
            state=self.transcoder.encode(state),
        )
        return stored
