"""The file and stdin ingester: JSONL lines, in bounded batches, through the engine."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from typing import BinaryIO, NamedTuple

from eventsourcing.persistence import IntegrityError, RecordConflictError

from .counts import Counts
from .engine import Engine
from .journal import Inbound
from .messages import DecodeError

# The longest line taken as a message (SMSLEDGER_MAX_LINE_BYTES); a valid one is a few
# hundred bytes. A longer line is dead-lettered with its first KEPT_BYTES.
MAX_LINE_BYTES = 65_536
KEPT_BYTES = 1_024
# Attempts at a batch that conflicts with another writer (another process ingesting the
# same messages) before giving up.
CONFLICT_ATTEMPTS = 10


class LongLine(NamedTuple):
    """A line longer than the cap: its first bytes and its length (without the newline)."""

    head: bytes
    size: int


class ConcurrentWriterError(RuntimeError):
    """Another writer kept committing the same messages first."""


def bounded_lines(stream: BinaryIO, max_bytes: int = MAX_LINE_BYTES) -> Iterator[bytes | LongLine]:
    """The lines of `stream`; a line longer than `max_bytes` is read in pieces and comes
    as a `LongLine`, so no more than `max_bytes` of it is ever held."""
    readline = stream.readline
    while line := readline(max_bytes + 1):
        if len(line) <= max_bytes or line[max_bytes:] == b"\n":
            yield line
            continue
        head, size = line[:KEPT_BYTES], len(line)
        while not line.endswith(b"\n") and (line := readline(max_bytes)):
            size += len(line)
            if len(head) < KEPT_BYTES:
                head += line[: KEPT_BYTES - len(head)]
        ended = line.endswith(b"\n")
        yield LongLine(head[: size - 1] if ended else head, size - 1 if ended else size)


def ingest_lines(
    engine: Engine,
    lines: Iterable[bytes | LongLine],
    *,
    source: str,
    batch_size: int = 8000,
    progress: Callable[[int], None] | None = None,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> Counts:
    """Apply every line; one transaction per batch. Blank lines carry nothing and are skipped.

    At the end the input is over: every deadline before the watermark (the latest `at`
    processed, this input's or an earlier one's) is settled, and messages still parked for
    an order or refund request that never arrived are dead-lettered: this input will not
    bring it.
    """
    batch: list[Inbound] = []
    read = 0
    for number, line in enumerate(lines, start=1):
        inbound = _inbound(line, source, number, max_line_bytes)
        if inbound is None:
            continue
        batch.append(inbound)
        if len(batch) >= batch_size:
            read += _flush(engine, batch)
            if progress is not None:
                progress(read)
    read += _flush(engine, batch)
    _committed(engine, engine.end_of_input)
    if progress is not None:
        progress(read)
    return engine.counts


def _inbound(
    line: bytes | LongLine, source: str, number: int, max_bytes: int
) -> Inbound | None:
    """The line as an inbound record; None for a blank line."""
    if isinstance(line, bytes):
        body = line.rstrip(b"\r\n")
        if len(body) <= max_bytes:
            return Inbound(body, source, None, number) if body.strip() else None
        line = LongLine(body[:KEPT_BYTES], len(body))
    too_long = DecodeError(
        "line_too_long",
        f"line of {line.size} bytes is longer than SMSLEDGER_MAX_LINE_BYTES ({max_bytes});"
        f" its first {len(line.head)} bytes are kept",
    )
    return Inbound(line.head, source, None, number, too_long)


def _flush(engine: Engine, batch: list[Inbound]) -> int:
    size = len(batch)
    if batch:
        _committed(engine, lambda: engine.process(batch))
        batch.clear()
    return size


def _committed(engine: Engine, work: Callable[[], None]) -> None:
    """Do the work and commit it. If another writer committed some of the same messages
    meanwhile (the same file ingested by two processes at once), the work is done again
    on what that writer stored: its messages are duplicates then, nothing counts twice."""
    for _ in range(CONFLICT_ATTEMPTS):
        counted = replace(engine.counts)
        try:
            work()
            engine.commit()
            return
        except (IntegrityError, RecordConflictError) as error:
            conflict = error
            engine.counts = counted
            engine.reload()
    raise ConcurrentWriterError(
        f"another writer kept storing the same messages first ({CONFLICT_ATTEMPTS} attempts;"
        f" last: {conflict})")
