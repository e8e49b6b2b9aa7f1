"""The outbox relay: domain events from the notification log to a Kafka topic, at least once.

The position is saved only after the broker acknowledged every event up to it, so a crash
re-sends a tail of events and never skips one; consumers deduplicate with the notification
id carried in each record's header.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

POSITIONS_TABLE = (
    "CREATE TABLE IF NOT EXISTS relay_positions (name TEXT PRIMARY KEY, position BIGINT NOT NULL)"
)
NOTIFICATION_HEADER = "notification-id"


@dataclass
class RelayReport:
    published: int = 0
    position: int = 0


class Relay:
    """Reads stored events after the saved position and publishes them in order."""

    def __init__(
        self,
        db: Any,
        read: Callable[[int, int], list[tuple[Any, ...]]],
        send: Callable[[bytes, bytes, list[tuple[str, bytes]]], Any],
        flush: Callable[[], None],
        *,
        name: str,
        batch_size: int = 1000,
    ) -> None:
        self.db = db
        self.read = read
        self.send = send
        self.flush = flush
        self.name = name
        self.batch_size = batch_size
        self.stopping = False
        with db.transaction() as cursor:
            db.execute(cursor, POSITIONS_TABLE)

    def position(self) -> int:
        rows = self.db.query("SELECT position FROM relay_positions WHERE name = ?", (self.name,))
        return rows[0][0] if rows else 0

    def _save(self, position: int) -> None:
        with self.db.transaction() as cursor:
            self.db.execute(
                cursor,
                "INSERT INTO relay_positions VALUES (?, ?) ON CONFLICT (name)"
                " DO UPDATE SET position = excluded.position",
                (self.name, position),
            )

    def relay_once(self) -> int:
        """Publish one batch; returns how many events it held."""
        stored = self.read(self.position(), self.batch_size)
        for notification_id, originator, version, topic, state in stored:
            aggregate = originator if isinstance(originator, str) else originator.hex
            self.send(aggregate.encode(), envelope(notification_id, aggregate, version, topic,
                                                    state),
                      [(NOTIFICATION_HEADER, str(notification_id).encode())])
        if stored:
            self.flush()  # raises if the broker did not acknowledge: the position stays
            self._save(stored[-1][0])
        return len(stored)

    def run(self, *, stop_when_idle: float | None = None, poll_seconds: float = 0.2) -> RelayReport:
        report = RelayReport()
        idle_since = time.monotonic()
        while not self.stopping:
            sent = self.relay_once()
            report.published += sent
            if sent:
                idle_since = time.monotonic()
                continue
            if stop_when_idle is not None and time.monotonic() - idle_since >= stop_when_idle:
                break
            time.sleep(poll_seconds)
        report.position = self.position()
        return report


def envelope(notification_id: int, aggregate: str, version: int, topic: str,
             state: bytes) -> bytes:
    """The published form: the stored event with its identity, type and time spelled out."""
    data = orjson.loads(state)
    at = data.pop("timestamp", None)
    if isinstance(at, str) and at.endswith("+00:00"):
        at = at[:-6] + "Z"  # the form inbound messages and query output use
    return orjson.dumps({
        "notification_id": notification_id,
        "aggregate_id": aggregate,
        "version": version,
        "type": topic.rsplit(":", 1)[-1],
        "at": at,
        "data": data,
    })
