"""The file and stdin ingester: JSONL lines, in bounded batches, through the engine."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from .counts import Counts
from .engine import Engine
from .journal import Inbound


def ingest_lines(
    engine: Engine,
    lines: Iterable[bytes],
    *,
    source: str,
    batch_size: int = 8000,
    progress: Callable[[int], None] | None = None,
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
        if not line.strip():
            continue
        batch.append(Inbound(line.rstrip(b"\r\n"), source, None, number))
        if len(batch) >= batch_size:
            read += _flush(engine, batch)
            if progress is not None:
                progress(read)
    read += _flush(engine, batch)
    engine.end_of_input()
    engine.commit()
    if progress is not None:
        progress(read)
    return engine.counts


def _flush(engine: Engine, batch: list[Inbound]) -> int:
    size = len(batch)
    if batch:
        engine.process(batch)
        engine.commit()
        batch.clear()
    return size
