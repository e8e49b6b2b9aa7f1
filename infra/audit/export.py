"""`smsledger export --since POS`: the stored events after a position with their digests,
as JSONL that `smsledger verify` and a second system can check link by link.

The first line is a header: `{"format", "since", "digest_before", "head", "original_from"}`
(`digest_before` is the digest the first exported event links to); then one line per event:
`{"position", "aggregate_id", "version", "topic", "state", "digest"}`, `state` being the
stored JSON text, byte for byte.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any
from uuid import UUID

import orjson

from smsledger.infra.audit import log_reads
from smsledger.infra.audit.proof import Verdict
from smsledger.infra.stores.chain import DigestRef, leaf, link, originator_bytes, state_bytes

FORMAT = "smsledger-export/1"
PAGE = 5000
SHOWN = 5


def export_lines(database: Any, recorder: Any, since: int) -> Iterator[bytes]:
    """The header, then every event after `since` up to the head as it was at the start."""
    head = log_reads.head(database, recorder)
    before = log_reads.digest_before(database, recorder, since)
    yield orjson.dumps({
        "format": FORMAT, "since": since, "digest_before": before.hex(),
        "head": {"position": head.position, "digest": head.digest.hex()},
        "original_from": head.original_from,
    }) + b"\n"
    after = since
    while True:
        rows = recorder.select_chain_after(after, PAGE, up_to=head.position)
        if not rows:
            return
        for position, originator, version, topic, state, digest in rows:
            state = state_bytes(state)
            yield orjson.dumps({
                "position": position, "aggregate_id": str(UUID(bytes=originator_bytes(originator))),
                "version": version, "topic": topic, "state": state.decode(),
                "digest": None if digest is None else bytes(digest).hex(),
            }) + b"\n"
        after = rows[-1][0]


def verify_export(lines: Iterable[bytes], published: DigestRef) -> Verdict:
    """Re-link every exported event from the header's `digest_before`; the published digest
    must be one the chain reaches while every link so far holds."""
    verdict = Verdict()
    stream = iter(lines)
    try:
        header = orjson.loads(next(stream))
        previous = bytes.fromhex(header["digest_before"])
        since = int(header["since"])
    except (StopIteration, KeyError, TypeError, ValueError) as error:
        verdict.problems.append(f"the export's header is malformed ({type(error).__name__})")
        return verdict
    count, first, last, reached = 0, None, since, None
    for number, line in enumerate(stream, start=2):
        if not line.strip():
            continue
        try:
            previous, position = _relink(orjson.loads(line), previous, verdict)
        except (KeyError, TypeError, ValueError) as error:
            verdict.problems.append(f"line {number} is malformed ({type(error).__name__}:"
                                    f" {error})")
            continue
        count, first, last = count + 1, first or position, position
        if not verdict.problems and previous == published.digest and reached is None:
            reached = position
    if reached is None:
        verdict.problems.append(f"the published digest {published} is not reached by the"
                                " exported chain")
    elif published.position is not None and published.position != reached:
        verdict.problems.append(f"the published digest is reached at position {reached}, not"
                                f" {published.position}")
    del verdict.problems[SHOWN * 2:]
    verdict.summary = (f"{count} events, positions {first}-{last}; the published digest"
                       f" reached at position {reached}")
    return verdict


def _relink(event: dict[str, Any], previous: bytes, verdict: Verdict) -> tuple[bytes, int]:
    position = event["position"]
    if event["digest"] is None:
        verdict.problems.append(f"position {position} has no digest: not written by the ledger")
        return previous, position
    digest = bytes.fromhex(event["digest"])
    own = leaf(UUID(event["aggregate_id"]).bytes, event["version"], event["topic"],
               event["state"].encode())
    if link(previous, own) != digest:
        verdict.problems.append(
            f"position {position} ({event['topic'].rpartition(':')[2]}, version"
            f" {event['version']}): its bytes or the link to the event before do not match"
            " its digest")
    return digest, position
