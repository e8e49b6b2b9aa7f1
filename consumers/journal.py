"""What one batch writes besides events: the message journal, kept in the event store's
transaction so that processing and its record of processing commit or vanish together."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol
from uuid import UUID

if TYPE_CHECKING:
    from eventsourcing.domain import Aggregate

# The tables these rows go to: `infra/stores/journal_tables.py`.

# `partition` of a single writer's clock in `partition_clocks`.
SINGLE_CLOCK = -1

# Kinds of the batch's inbound entries; a row of consecutive messages is LOGGED_MESSAGES.
# A clock moved without a message (`at`: its time), an input over that settled something
# (`Engine.input_over`), a finite input's end (`Engine.end_of_input`).
LOGGED_MESSAGE, LOGGED_CLOCK, LOGGED_END = "message", "clock", "end"
LOGGED_OVER = "over"
LOGGED_MESSAGES = "messages"


def log_rows(
    entries: list[tuple[str, str | None, bytes | None]],
) -> list[tuple[str, str | None, int, bytes | None]]:
    """The inbound log's rows for a batch's entries: consecutive messages in one row, their
    bytes each prefixed by its length (one row per message cost ingest 4% of its
    instructions in SQLite's inserts)."""
    rows: list[tuple[str, str | None, int, bytes | None]] = []
    run: list[bytes] = []
    for kind, at, raw in entries:
        if kind == LOGGED_MESSAGE:
            run.append(len(raw or b"").to_bytes(4, "big") + (raw or b""))
            continue
        if run:
            rows.append((LOGGED_MESSAGES, None, len(run), b"".join(run)))
            run = []
        rows.append((kind, at, 0, None))
    if run:
        rows.append((LOGGED_MESSAGES, None, len(run), b"".join(run)))
    return rows


def logged_lines(packed: bytes) -> list[bytes]:
    """The lines of a LOGGED_MESSAGES row, in order."""
    lines, at = [], 0
    while at < len(packed):
        size = int.from_bytes(packed[at:at + 4], "big")
        lines.append(packed[at + 4:at + 4 + size])
        at += 4 + size
    return lines


# A note added to the dead letters of a message id that a later, valid line carried.
RELEASED_NOTE = "; a later line with other bytes carried this message id and was processed"


def message_digest(raw: bytes) -> str:
    """What tells a redelivery (the same bytes) from another message under a used id."""
    return hashlib.sha256(raw).hexdigest()[:32]  # 128 bits; SHA-256 runs in hardware here


class Seen(NamedTuple):
    """What the journal knows of a message id: whether only dead letters carried it (they
    do not reserve it for a valid message), and the digest of the line that holds it
    (None in stores written before digests were kept: any repeat is a duplicate)."""

    dead_lettered: bool
    digest: str | None


class Inbound(NamedTuple):
    """One raw input record and where it came from (a tuple: one is made per message)."""

    raw: bytes
    source: str  # topic name, file name or "-"
    partition: int | None = None
    offset: int | None = None
    # `raw` decoded already (a `Message` or the `DecodeError` it raised), when the reader
    # had to decode it anyway (the Kafka merge orders records by event time); else None.
    decoded: Any = None


@dataclass(frozen=True)
class Parked:
    message_id: str
    kind: str  # "order", "request" or "account"
    subject: str
    at: datetime
    inbound: Inbound


@dataclass
class Batch:
    """Everything one transaction commits."""

    aggregates: dict[UUID, Aggregate] = field(default_factory=dict)
    # (message id, type, outcome, reason, digest)
    processed: list[tuple[str, str, str, str | None, str]] = field(default_factory=list)
    rejections: list[tuple[Any, ...]] = field(default_factory=list)
    dead_letters: list[tuple[Any, ...]] = field(default_factory=list)
    parked: dict[str, Parked] = field(default_factory=dict)
    unparked: set[str] = field(default_factory=set)
    # Message ids that only dead letters held, now carried by a valid line: the dead
    # letters' claim on them is dropped (and the dead letters say so).
    released: set[str] = field(default_factory=set)
    deadlines: dict[UUID, tuple[str, datetime | None, str]] = field(default_factory=dict)
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    # Partition times moved by the batch: partition (None: a single writer's) ->
    # (clock, latest event time).
    clocks: dict[int | None, tuple[datetime | None, datetime | None]] = field(
        default_factory=dict)
    # Late messages: (message id, at, clock, source, partition, offset).
    late: list[tuple[Any, ...]] = field(default_factory=list)
    consumer_group: str = ""
    watermark: datetime | None = None
    policy: str = ""
    # (kind, at, raw) rows of the inbound log.
    inbound: list[tuple[str, str | None, bytes | None]] = field(default_factory=list)
    # ref -> [ref, name, version, effective_from, digest, content, first and last event
    # times decided].
    policy_versions: dict[str, list[Any]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.processed) + len(self.dead_letters) + len(self.parked)


class LedgerStore(Protocol):
    """The event store as the consumers see it; `infra.store` implements it."""

    def get(self, aggregate_id: UUID) -> Aggregate | None: ...

    def prefetch(self, aggregate_ids: list[UUID]) -> None: ...

    def seen(self, message_ids: list[str]) -> dict[str, Seen]: ...

    def deadlines(self) -> list[tuple[UUID, str, datetime, str]]: ...

    def parked(self) -> list[Parked]: ...

    def watermark(self) -> datetime | None: ...

    def policy_name(self) -> str | None: ...

    def offsets(self, consumer_group: str) -> dict[tuple[str, int], int]: ...

    def clocks(
        self, consumer_group: str
    ) -> dict[int | None, tuple[datetime | None, datetime | None]]: ...

    def commit(self, batch: Batch) -> None: ...

    def forget(self, aggregate_ids: list[UUID] | None = None) -> None:
        """Drop these (None: all) from any cache: they may differ from what was stored."""
