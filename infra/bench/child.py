"""One benchmark phase in a fresh process, so that its peak RSS is its own.

`python -m smsledger.infra.bench.child ingest STORE POLICY FILE` (one process),
`... ingest-alongside STORE POLICY FILE` (read models folded by a second process) or
`... rebuild STORE POLICY`; prints one JSON object: items, seconds, peak_rss_mb.
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

import orjson

from smsledger.consumers.ingest import ingest_lines
from smsledger.infra.alongside import projecting_alongside
from smsledger.infra.bootstrap import Ledger, bootstrap
from smsledger.infra.settings import Settings


def reset_peak_rss() -> None:
    """Linux: writing 5 to clear_refs resets the peak resident set size of this process."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def peak_rss_mb() -> float:
    """VmHWM: this process's own peak (ru_maxrss keeps the parent's across fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ingest_into(ledger: Ledger, path: str, *, alongside: bool = False) -> int:
    """A JSONL file into the ledger, read models caught up; returns the messages read."""
    read = [0]
    with (
        open(path, "rb") as stream,
        projecting_alongside(ledger.settings.store, ledger.policy.name, enabled=alongside),
    ):
        ingest_lines(ledger.engine(), stream, source=path, progress=read.append)
    ledger.catch_up()
    return read[-1]  # the last progress report is the number of messages read


def ingest(store: str, policy: str, path: str, alongside: bool) -> tuple[int, float]:
    ledger = bootstrap(Settings(store=store, policy=policy))
    started = time.perf_counter()
    messages = ingest_into(ledger, path, alongside=alongside)
    seconds = time.perf_counter() - started
    ledger.close()
    return messages, seconds


def rebuild(store: str, policy: str) -> tuple[int, float]:
    ledger = bootstrap(Settings(store=store, policy=policy))
    started = time.perf_counter()
    events = ledger.rebuild()
    seconds = time.perf_counter() - started
    ledger.close()
    return events, seconds


def main(argv: list[str]) -> int:
    phase, store, policy, *rest = argv
    if phase.startswith("ingest"):
        items, seconds = ingest(store, policy, rest[0], alongside=phase == "ingest-alongside")
    else:
        items, seconds = rebuild(store, policy)
    sys.stdout.write(orjson.dumps(
        {"items": items, "seconds": seconds, "peak_rss_mb": peak_rss_mb()}
    ).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
