"""The audit's pass over the hash chain: page by page in notification order, every event's
bytes against its digest and the digest before it, the head against the one the ledger
recorded, and optionally the chain against a published digest. Memory: one page."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import orjson

from smsledger.infra.stores.chain import (
    GENESIS,
    DigestRef,
    leaf,
    link,
    originator_bytes,
    state_bytes,
)
from smsledger.infra.stores.transcoding import is_event_topic

PAGE = 5000
KEPT_FINDINGS = 20


@dataclass(frozen=True)
class Finding:
    """One position that does not verify, and what differs there."""

    position: int
    originator: UUID | None
    version: int | None
    topic: str | None
    what: str


@dataclass
class ChainReport:
    events: int = 0
    last_position: int = 0
    head_digest: bytes = GENESIS  # the digest of the last chained event
    original_from: int | None = None
    upgraded_at: str | None = None
    intact: bool = True  # no event failed to verify so far
    malformed: int = 0  # rows whose columns are not an event's (a NULL, a wrong type)
    findings: list[Finding] = field(default_factory=list)
    failed: int = 0
    against: DigestRef | None = None
    against_position: int | None = None  # where the published digest was found

    def add(self, finding: Finding) -> None:
        self.failed += 1
        if len(self.findings) < KEPT_FINDINGS:
            self.findings.append(finding)


@dataclass
class _Walk:
    """State carried from one row to the next."""

    previous: bytes = GENESIS  # the last stored digest seen
    position: int = 0


def verify_chain(
    recorder: Any, database: Any, against: DigestRef | None = None
) -> ChainReport:
    report = ChainReport(against=against)
    walk = _Walk()
    while True:
        rows = recorder.select_chain_after(walk.position, PAGE)
        if not rows:
            break
        for row in rows:
            _verify_row(report, walk, row)
    report.last_position = walk.position
    report.head_digest = walk.previous
    _compare_head(report, database)
    _compare_against(report)
    return report


def event_columns(row: tuple[Any, ...]) -> tuple[UUID, int, str, bytes] | None:
    """(originator, version, topic, state) of a stored row, or None if they are not an
    event's (SQLite keeps whatever type was written by hand)."""
    columns = _stored_columns(row)
    return None if columns is None else (UUID(bytes=columns[0]), *columns[1:])


def _stored_columns(row: tuple[Any, ...]) -> tuple[bytes, int, str, bytes] | None:
    """The same, the originator id as its 16 bytes (a UUID is made only when named)."""
    _, originator, version, topic, state = row[:5]
    raw = _originator_raw(originator)
    if raw is None or not isinstance(version, int) or not isinstance(topic, str) or (
        state is None
    ):
        return None
    return raw, version, topic, state_bytes(state)


def _originator_raw(originator: Any) -> bytes | None:
    try:
        raw = originator_bytes(originator)
    except (ValueError, TypeError, AttributeError):
        return None
    return raw if len(raw) == 16 else None


def originator_uuid(originator: Any) -> UUID | None:
    """A stored originator id as a UUID, or None if it is not one's."""
    raw = _originator_raw(originator)
    return None if raw is None else UUID(bytes=raw)


def _verify_row(report: ChainReport, walk: _Walk, row: tuple[Any, ...]) -> None:
    position, digest = row[0], row[5]
    report.events += 1
    columns = _stored_columns(row)
    if columns is None:
        report.intact = False
        report.malformed += 1
        report.add(Finding(position, None, None, None,
                           f"its columns are not an event's (originator {row[1]!r}, version"
                           f" {row[2]!r}, topic {row[3]!r})"))
        walk.position = position
        return
    raw, version, topic, state = columns
    if not is_event_topic(topic):
        report.intact = False
        report.add(Finding(position, UUID(bytes=raw), version, topic,
                           f"topic {topic!r} is not an event of this ledger"))
    if digest is None:
        report.intact = False
        report.add(Finding(position, UUID(bytes=raw), version, topic,
                           "it carries no digest: it was not written by the ledger"
                           " (inserted or rewritten by hand)"))
        walk.position = position
        return
    digest = bytes(digest)
    expected = link(walk.previous, leaf(raw, version, topic, state))
    if digest != expected:
        report.intact = False
        uuid = UUID(bytes=raw)
        report.add(Finding(position, uuid, version, topic,
                           _what_differs(walk, position, uuid, version, topic, state, digest)))
    elif report.intact and report.against is not None and digest == report.against.digest:
        report.against_position = position
    walk.previous, walk.position = digest, position


def _what_differs(
    walk: _Walk, position: int, uuid: UUID, version: int, topic: str, state: bytes,
    digest: bytes,
) -> str:
    for written in (version - 1, version + 1, version - 2, version + 2):
        if written >= 1 and link(walk.previous, leaf(uuid.bytes, written, topic, state)) == digest:
            return (f"its version was {written} when it was written, now {version}:"
                    " versions were renumbered or swapped")
    gap = ""
    if walk.position and position - walk.position > 1:
        gap = f"; there is no event at positions {walk.position + 1}-{position - 1}"
    return ("its bytes (amount, fields, topic, aggregate or version) differ from those"
            " written, or an event before it was removed or inserted" + gap)


def _compare_head(report: ChainReport, database: Any) -> None:
    rows = database.query(
        "SELECT original_from, upgraded_at, head_position, head_digest FROM ledger_chain"
        " WHERE id = 1")
    if not rows:
        report.intact = False
        report.add(Finding(report.last_position, None, None, None,
                           "the ledger_chain row (the head the ledger wrote) is missing"))
        return
    original_from, report.upgraded_at, head_position, head_digest = rows[0]
    report.original_from = original_from
    recorded = bytes(head_digest) if head_digest is not None else GENESIS
    if head_position > report.last_position:
        what = (f"the log ends at position {report.last_position}, but the ledger wrote up to"
                f" position {head_position}: events were removed from its tail (truncated)")
    elif head_position < report.last_position:
        what = (f"events after position {head_position}, the last the ledger wrote, were"
                f" appended by hand (the log ends at {report.last_position})")
    elif recorded != report.head_digest:
        what = (f"the digest at position {head_position} is {report.head_digest.hex()}, the"
                f" ledger recorded {recorded.hex()}")
    else:
        return
    report.intact = False
    report.add(Finding(min(head_position, report.last_position) + 1, None, None, None, what))


def _compare_against(report: ChainReport) -> None:
    against = report.against
    if against is None or report.against_position is not None and (
        against.position is None or against.position == report.against_position
    ):
        return
    if against.position is not None and against.position > report.last_position:
        what = (f"the published digest is at position {against.position}, but the log ends"
                f" at position {report.last_position}: events were removed (truncated)")
    elif against.position is not None:
        what = (f"at position {against.position} the chain does not give the published"
                f" digest {against.digest.hex()}: the log up to it was rewritten")
    else:
        what = (f"the published digest {against.digest.hex()} is not in the chain (head"
                f" {report.last_position}:{report.head_digest.hex()}): the log was rewritten"
                " or truncated before it")
    report.intact = False
    report.add(Finding(against.position or report.last_position, None, None, None, what))


def describe(recorder: Any, finding: Finding) -> str:
    """The finding as one line, naming the aggregate by the ids of the input."""
    if finding.originator is None:
        return f"position {finding.position}: {finding.what}"
    name = aggregate_name(recorder, finding.originator)
    event = (finding.topic or "").rpartition(":")[2]
    return (f"position {finding.position}: {name}, version {finding.version} ({event}):"
            f" {finding.what}")


def aggregate_name(recorder: Any, originator: UUID) -> str:
    """'account a1', 'order o-42', … read from the aggregate's first event (not decoded
    into a class, so an altered topic imports nothing)."""
    events = recorder.select_events(originator, lte=1)
    if events:
        try:
            state = orjson.loads(events[0].state)
        except orjson.JSONDecodeError:
            state = {}
        for key, kind in (("order", "order"), ("request", "refund request"),
                          ("account", "account")):
            if isinstance(state, dict) and isinstance(state.get(key), str):
                return f"{kind} {state[key]}"
    return f"aggregate {originator}"
