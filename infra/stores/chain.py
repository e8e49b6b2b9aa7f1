"""The event log's hash chain: every stored event carries a SHA-256 digest over its own bytes
and the digest of the event before it in notification order, so that the last digest (the
head) commits to the whole log, and a published head to the log as it was then.

    leaf(e)    = SHA-256(0x00 | originator id (16 bytes) | version (8, big-endian)
                          | topic length (4, big-endian) | topic (UTF-8) | state bytes)
    digest(e)  = SHA-256(0x01 | digest of the event before (32) | leaf(e))

The first event's predecessor is 32 zero bytes. Positions (notification ids) are not hashed:
the chain fixes the order, and PostgreSQL's ids may have gaps. Both stores hash the same
bytes, so the same input gives the same head on SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

GENESIS = bytes(32)
LEAF_TAG = b"\x00"
LINK_TAG = b"\x01"

# One row: the first position whose digest was written with its event (earlier ones were
# computed when a store written before the chain existed was first opened), when that was,
# and the head the ledger last wrote (a log that ends elsewhere lost or gained events).
CHAIN_TABLE = """CREATE TABLE IF NOT EXISTS ledger_chain (
    id INTEGER PRIMARY KEY, original_from BIGINT NOT NULL, upgraded_at TEXT,
    head_position BIGINT NOT NULL, head_digest {blob})"""

_topic_bytes: dict[str, bytes] = {}


class ChainError(RuntimeError):
    """The store's chain cannot be kept: it was altered in a way the ledger refuses to bless."""


def _topic_part(topic: str) -> bytes:
    part = _topic_bytes.get(topic)
    if part is None:
        encoded = topic.encode()
        part = _topic_bytes[topic] = len(encoded).to_bytes(4, "big") + encoded
    return part


def originator_bytes(originator: UUID | str) -> bytes:
    """The 16 bytes of an originator id as either store returns it (UUID, or hex text)."""
    return originator.bytes if isinstance(originator, UUID) else bytes.fromhex(originator)


def state_bytes(state: Any) -> bytes:
    """A stored state as bytes (a BLOB edited by hand may come back as TEXT)."""
    return state.encode() if isinstance(state, str) else bytes(state)


def leaf(originator: bytes, version: int, topic: str, state: bytes) -> bytes:
    return hashlib.sha256(
        b"".join((LEAF_TAG, originator, version.to_bytes(8, "big"), _topic_part(topic), state))
    ).digest()


def link(previous: bytes, leaf_digest: bytes) -> bytes:
    return hashlib.sha256(LINK_TAG + previous + leaf_digest).digest()


def chain_digests(previous: bytes, stored_events: Sequence[Any]) -> list[bytes]:
    """The digests of `stored_events` (eventsourcing `StoredEvent`s, UUID originator ids),
    appended in this order after the event whose digest is `previous`."""
    sha256 = hashlib.sha256
    digests = []
    for s in stored_events:
        topic = _topic_bytes.get(s.topic) or _topic_part(s.topic)
        leaf_digest = sha256(b"".join((
            LEAF_TAG, s.originator_id.bytes, s.originator_version.to_bytes(8, "big"), topic,
            s.state,
        ))).digest()
        previous = sha256(LINK_TAG + previous + leaf_digest).digest()
        digests.append(previous)
    return digests


def chain_rows(previous: bytes, rows: Iterable[tuple[Any, ...]]) -> list[bytes]:
    """Digests of stored rows (position, originator, version, topic, state), in order."""
    digests = []
    for _, originator, version, topic, state in rows:
        previous = link(previous, leaf(originator_bytes(originator), version, topic,
                                       state_bytes(state)))
        digests.append(previous)
    return digests


class ChainedRecorder(Protocol):
    """What the chain's SQL needs to know of a recorder."""

    events_table_name: str
    position_column: str  # rowid (SQLite) or notification_id (PostgreSQL)
    placeholder: str  # ? or %s
    blob_type: str  # BLOB or BYTEA


def tail_digest(cursor: Any, recorder: ChainedRecorder) -> bytes:
    """The digest the next event links to: the last one written (rows without a digest,
    put there by hand, are passed over, so the chain goes on around them)."""
    cursor.execute(
        f"SELECT digest FROM {recorder.events_table_name} WHERE digest IS NOT NULL"
        f" ORDER BY {recorder.position_column} DESC LIMIT 1"
    )
    row = cursor.fetchone()
    return GENESIS if row is None else bytes(row[0])


def ensure_chain(
    cursor: Any, recorder: ChainedRecorder, *, has_digest: bool
) -> ChainUpgrade | None:
    """Give the log its digest column and chain row, inside the caller's transaction (which
    holds the store's write or DDL lock). A log that has events but no digests was written
    before the chain existed: their digests are computed now, once, and the chain row says
    from which position the chain is original."""
    p = recorder.placeholder
    cursor.execute("SELECT COUNT(*) FROM ledger_chain")
    has_row = cursor.fetchone()[0] > 0
    if has_digest:
        return None  # a missing row on a chained log is the audit's to report
    if has_row:
        raise ChainError(
            "the event log has lost its digest column, yet ledger_chain shows it had a chain:"
            " the store was altered; it will not be re-chained (restore it from a backup)"
        )
    table = recorder.events_table_name
    cursor.execute(f"ALTER TABLE {table} ADD COLUMN digest {recorder.blob_type}")
    events, last, head = _chain_existing(cursor, recorder)
    at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if events else None
    cursor.execute(
        f"INSERT INTO ledger_chain VALUES (1, {p}, {p}, {p}, {p})",
        (last + 1, at, last, head if events else None),
    )
    return ChainUpgrade(events, last + 1, at) if events and at else None


def _chain_existing(cursor: Any, recorder: ChainedRecorder) -> tuple[int, int, bytes]:
    """Digest every stored event in notification order, a page at a time."""
    table, position, p = recorder.events_table_name, recorder.position_column, recorder.placeholder
    previous, last, events = GENESIS, 0, 0
    while True:
        cursor.execute(
            f"SELECT {position}, originator_id, originator_version, topic, state FROM {table}"
            f" WHERE {position} > {p} ORDER BY {position} LIMIT 10000",
            (last,),
        )
        rows = cursor.fetchall()
        if not rows:
            return events, last, previous
        digests = chain_rows(previous, rows)
        cursor.executemany(
            f"UPDATE {table} SET digest = {p} WHERE {position} = {p}",
            [(digest, row[0]) for digest, row in zip(digests, rows, strict=True)],
        )
        previous, last, events = digests[-1], rows[-1][0], events + len(rows)


@dataclass(frozen=True)
class ChainUpgrade:
    """A store written before the chain existed was given one when it was first opened."""

    events: int
    original_from: int
    at: str

    def message(self) -> str:
        return (
            f"the event log had no hash chain: digests computed now for its {self.events}"
            f" events (positions before {self.original_from}); the chain is original from"
            f" position {self.original_from}"
        )


@dataclass(frozen=True)
class DigestRef:
    """A published digest: its hex value and, when given, the position it was published at."""

    digest: bytes
    position: int | None = None

    @classmethod
    def parse(cls, text: str) -> DigestRef:
        """`HEX` or `POSITION:HEX` (as `smsledger digest` prints them)."""
        position_text, _, hex_text = text.strip().rpartition(":")
        try:
            digest = bytes.fromhex(hex_text)
            position = int(position_text) if position_text else None
        except ValueError:
            digest, position = b"", None
        if len(digest) != 32 or (position is not None and position < 0):
            raise ValueError(
                f"{text!r} is not a digest: give 64 hex digits, or POSITION:HEX as"
                " `smsledger digest` prints them"
            )
        return cls(digest, position)

    def __str__(self) -> str:
        prefix = "" if self.position is None else f"{self.position}:"
        return prefix + self.digest.hex()
