"""orjson transcoding of event state: one C call each way instead of the stdlib encoder."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from eventsourcing.persistence import Transcoder

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
