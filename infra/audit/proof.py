"""Proof for one customer: the account's events, the chain links that connect them to a
published digest, and the balance they derive, in one self-contained JSON document; and its
verification, which needs the document and the digest only (no store).

The links from the account's first event to the digest are, in position order, either one
of the account's events in full (its version, topic and stored state) or a run of other
events given only by their leaf hashes (base64 of 32 bytes each), which show nothing of
other customers. Starting from the anchor (the digest before the account's first event),
the verifier re-links every entry and must arrive at the published digest.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import MapperDeserialisationError, StoredEvent
from eventsourcing.utils import get_topic

from smsledger.domain import ids
from smsledger.domain.account import Account
from smsledger.infra.audit import log_reads
from smsledger.infra.audit.log_reads import ProofError
from smsledger.infra.stores.chain import DigestRef, leaf, link, originator_bytes, state_bytes
from smsledger.infra.stores.transcoding import FastMapper, OrjsonTranscoder, UnknownTopicError

FORMAT = "smsledger-account-proof/1"
ACCOUNT_EVENTS = get_topic(Account) + "."
PAGE = 5000


def prove(database: Any, recorder: Any, account: str, ref: DigestRef | None) -> dict[str, Any]:
    """The proof document of `account` up to the published digest `ref` (None: the head)."""
    aggregate = ids.account_id(account)
    end, end_digest = log_reads.target(database, recorder, ref)
    first = log_reads.first_position(database, recorder, aggregate)
    if first is None or first > end:
        raise ProofError(f"no account {account!r} in the log up to position {end}")
    anchor = log_reads.digest_before(database, recorder, first - 1)
    links, previous, events = _links(recorder, aggregate, first - 1, end, anchor)
    if previous != end_digest:
        raise ProofError(
            f"the log does not lead to the digest at position {end}: run `smsledger audit`")
    derived = derive(account, events)
    if isinstance(derived, str):
        raise ProofError(f"account {account}: {derived}; run `smsledger audit`")
    return {
        "format": FORMAT,
        "account": account,
        "aggregate_id": str(aggregate),
        "digest": {"position": end, "digest": end_digest.hex()},
        "anchor": {"position": first - 1, "digest": anchor.hex()},
        "events": len(events),
        "derived": derived,
        "links": links,
        "made_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _links(
    recorder: Any, aggregate: UUID, after: int, end: int, previous: bytes
) -> tuple[list[dict[str, Any]], bytes, list[StoredEvent]]:
    """Walk the log from `after` to `end`, re-linking as the verifier will."""
    links: list[dict[str, Any]] = []
    skipped: list[bytes] = []
    events: list[StoredEvent] = []
    for position, originator, version, topic, state, digest in _rows(recorder, after, end):
        if digest is None:
            continue  # not part of the chain (the audit reports it)
        originator = originator_bytes(originator)
        state = state_bytes(state)
        leaf_digest = leaf(originator, version, topic, state)
        previous = link(previous, leaf_digest)
        if previous != bytes(digest):
            raise ProofError(f"the log does not verify at position {position}:"
                             " run `smsledger audit`")
        if originator != aggregate.bytes:
            skipped.append(leaf_digest)
            continue
        if skipped:
            links.append(_skip(skipped))
            skipped = []
        links.append({"position": position, "version": version, "topic": topic,
                      "state": state.decode()})
        events.append(StoredEvent(aggregate, version, topic, state))
    if skipped:
        links.append(_skip(skipped))
    return links, previous, events


def _rows(recorder: Any, after: int, end: int) -> Iterator[tuple[Any, ...]]:
    while True:
        rows = recorder.select_chain_after(after, PAGE, up_to=end)
        if not rows:
            return
        yield from rows
        after = rows[-1][0]


def _skip(leaves: list[bytes]) -> dict[str, Any]:
    return {"skip": len(leaves), "leaves": base64.b64encode(b"".join(leaves)).decode()}


def derive(account: str, events: list[StoredEvent]) -> dict[str, Any] | str:
    """The account's state from its events, or why they do not make one."""
    mapper = FastMapper(OrjsonTranscoder())
    folded: Any = None
    for expected, stored in enumerate(events, start=1):
        if stored.originator_version != expected:
            return f"version {stored.originator_version} where {expected} was expected"
        if not stored.topic.startswith(ACCOUNT_EVENTS):
            return f"version {expected} is not an account event ({stored.topic!r})"
        try:
            folded = mapper.to_domain_event(stored).mutate(folded)
        except (UnknownTopicError, MapperDeserialisationError) as error:
            return f"version {expected} cannot be read: {error}"
        except Exception as error:  # altered fields may break any apply()
            return f"version {expected} cannot be applied ({type(error).__name__}: {error})"
    if not isinstance(folded, Account) or getattr(folded, "account", None) != account:
        return "the events are not those of this account"
    currency: str = getattr(folded, "currency", "")  # set by Account.Opened
    return {"currency": currency, "status": folded.status, **folded.balances()}


@dataclass
class Verdict:
    problems: list[str] = field(default_factory=list)
    summary: str = ""

    @property
    def verified(self) -> bool:
        return not self.problems


def verify_proof(document: Any, published: DigestRef) -> Verdict:
    verdict = Verdict()
    try:
        account, events, reached = _relink(document)
    except (KeyError, TypeError, ValueError) as error:
        verdict.problems.append(f"the proof is malformed ({type(error).__name__}: {error})")
        return verdict
    stated = bytes.fromhex(document["digest"]["digest"])
    if reached != stated:
        verdict.problems.append(
            "the links do not lead to the digest the proof names: an event or a link was"
            " altered, added, removed or reordered")
    if stated != published.digest:
        verdict.problems.append(
            f"the proof leads to {stated.hex()}, not to the published digest"
            f" {published.digest.hex()}")
    if published.position is not None and published.position != document["digest"]["position"]:
        verdict.problems.append(
            f"the proof is for position {document['digest']['position']}, the published"
            f" digest for position {published.position}")
    if document.get("aggregate_id") != str(ids.account_id(account)):
        verdict.problems.append(f"aggregate_id is not that of account {account!r}")
    derived = derive(account, events)
    if isinstance(derived, str):
        verdict.problems.append(f"the events do not make account {account!r}: {derived}")
    elif derived != document.get("derived"):
        stated_balance = document.get("derived") or {}
        differing = [f"{k} stated {stated_balance.get(k)!r}, derived {v!r}"
                     for k, v in derived.items() if stated_balance.get(k) != v]
        verdict.problems.append("the balance stated is not the one the events derive: "
                                + "; ".join(differing or ["fields differ"]))
    if document.get("events") != len(events):
        verdict.problems.append(f"the proof says {document.get('events')} events, has"
                                f" {len(events)}")
    verdict.summary = (
        f"account {account}: {len(events)} events, versions 1-{len(events)}, in the log whose"
        f" digest at position {document['digest']['position']} is {stated.hex()}")
    return verdict


def _relink(document: Any) -> tuple[str, list[StoredEvent], bytes]:
    if document.get("format") != FORMAT:
        raise ValueError(f"not a {FORMAT} document")
    account = document["account"]
    if not isinstance(account, str):
        raise TypeError("account is not a string")
    aggregate = ids.account_id(account)
    previous = bytes.fromhex(document["anchor"]["digest"])
    events: list[StoredEvent] = []
    for entry in document["links"]:
        if "skip" in entry:
            leaves = base64.b64decode(entry["leaves"], validate=True)
            if len(leaves) != 32 * entry["skip"]:
                raise ValueError("a run of leaves has the wrong length")
            for start in range(0, len(leaves), 32):
                previous = link(previous, leaves[start:start + 32])
            continue
        version, topic, state = entry["version"], entry["topic"], entry["state"].encode()
        if not isinstance(version, int) or not isinstance(topic, str):
            raise TypeError("an event's version or topic has the wrong type")
        previous = link(previous, leaf(aggregate.bytes, version, topic, state))
        events.append(StoredEvent(aggregate, version, topic, state))
    return account, events, previous
