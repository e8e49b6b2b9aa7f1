"""The base of this domain's aggregates: the library's `Aggregate`, with the hot path lean.

Events are always given their event time explicitly (`timestamp=`): the domain never reads
a clock, and an event constructed without one fails. Replay still goes through the
library's own `mutate`, so stored events are read back exactly as the library would.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from typing import Any, Self
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

_TOPICS: dict[type, str] = {}
_FIELDS: dict[type, frozenset[str]] = {}


def new_event(event_class: Any, state: dict[str, Any]) -> Any:
    """The event with exactly these attributes, set without the frozen dataclass's
    per-field `object.__setattr__`; anything else (a missing or unknown attribute, a
    default left out) goes through the class's own constructor, which checks and fails."""
    names = _FIELDS.get(event_class)
    if names is None:
        names = _FIELDS[event_class] = frozenset(f.name for f in fields(event_class))
    if state.keys() != names or not isinstance(state["originator_id"], UUID):
        return event_class(**state)
    event = object.__new__(event_class)
    event.__dict__.update(state)
    return event


class LedgerAggregate(Aggregate):
    def trigger_event(self, event_class: Any, **kwargs: Any) -> None:
        """Construct the next event, apply it, keep it pending (no registry look-ups)."""
        kwargs["originator_id"] = self.id
        kwargs["originator_version"] = self.version + 1
        event = new_event(event_class, kwargs)
        event.apply(self)
        self.version = event.originator_version
        self.modified_on = event.timestamp
        self.pending_events.append(event)

    @classmethod
    def _create(  # type: ignore[override]
        cls, event_class: Any, *, id: UUID, timestamp: datetime, **kwargs: Any  # noqa: A002
    ) -> Self:
        topic = _TOPICS.get(cls) or _TOPICS.setdefault(cls, get_topic(cls))
        kwargs.update(originator_topic=topic, originator_id=id,
                      originator_version=cls.INITIAL_VERSION, timestamp=timestamp)
        event = new_event(event_class, kwargs)
        aggregate = cls.__new__(cls)
        aggregate.__base_init__(
            originator_id=id, originator_version=cls.INITIAL_VERSION, timestamp=timestamp
        )
        aggregate.__init__()  # type: ignore[misc]
        event.apply(aggregate)
        aggregate.pending_events.append(event)
        return aggregate
