"""One benchmark phase in a fresh process, so that its peak RSS is its own.

`python -m smsledger.infra.bench.child ingest STORE POLICY FILE` (one process),
`... ingest-alongside STORE POLICY FILE` (read models folded by a second process) or
`... ingest-marks STORE POLICY FILE` (the default way, as `smsledger ingest` chooses,
with the time at every batch), `... audit STORE POLICY` or `... rebuild STORE POLICY`;
prints one JSON object: items, seconds, peak_rss_mb, and what the phase adds (marks, clean).
"""

from __future__ import annotations

import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from smsledger.consumers.ingest import ingest_lines
from smsledger.infra.alongside import projecting_alongside, worth_it
from smsledger.infra.audit.replay import audit
from smsledger.infra.bootstrap import Ledger, bootstrap
from smsledger.infra.cli.render import end_progress, progress_printer
from smsledger.infra.settings import Settings

# The phase's name, from the parent, for the progress bar the child draws on a terminal.
PHASE_VARIABLE = "SMSLEDGER_BENCH_PHASE"


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


def ingest_into(
    ledger: Ledger, path: str, *, alongside: bool = False,
    progress: Callable[[int], None] | None = None,
) -> int:
    """A JSONL file into the ledger, read models caught up; returns the messages read."""
    read = [0]
    size = os.path.getsize(path)
    with (
        open(path, "rb") as stream,
        projecting_alongside(ledger.settings.store, ledger.policy.name, enabled=alongside),
    ):
        bar = progress_printer(_label("ingesting"), fraction=lambda: stream.tell() / size
                               if size else 1.0)

        def report(count: int) -> None:
            read.append(count)
            bar(count)
            if progress is not None:
                progress(count)

        ingest_lines(ledger.engine(), stream, source=path, progress=report)
    ledger.catch_up()
    end_progress()
    return read[-1]  # the last progress report is the number of messages read


def _label(doing: str) -> str:
    """What a progress bar says: the phase the parent named, and what it is doing."""
    return f"bench: {os.environ.get(PHASE_VARIABLE, 'phase')}, {doing}"


def ingest_marks(store: str, policy: str, path: str) -> tuple[int, float, dict[str, Any]]:
    """The default ingest (a second process when the file is large enough, as the CLI
    decides) with (messages read, seconds, this process's CPU seconds) after every batch:
    on a shared machine the CPU time shows where the work grows when the wall clock is
    moved by other load."""
    ledger = bootstrap(Settings(store=store, policy=policy))
    marks: list[tuple[int, float, float]] = []
    started, cpu_started = time.perf_counter(), time.process_time()
    messages = ingest_into(
        ledger, path, alongside=worth_it(store, os.path.getsize(path),
                                         ledger.opened.recorder.last_notification_id()),
        progress=lambda count: marks.append(
            (count, time.perf_counter() - started, time.process_time() - cpu_started)))
    seconds = time.perf_counter() - started
    ledger.close()
    return messages, seconds, {"marks": marks}


def audit_store(store: str, policy: str) -> tuple[int, float, dict[str, Any]]:
    ledger = bootstrap(Settings(store=store, policy=policy))
    started = time.perf_counter()
    report = audit(ledger)
    seconds = time.perf_counter() - started
    ledger.close()
    return report.events, seconds, {"clean": report.clean, "problems": report.problems[:20]}


def ingest(store: str, policy: str, path: str, alongside: bool) -> tuple[int, float]:
    ledger = bootstrap(Settings(store=store, policy=policy))
    started = time.perf_counter()
    messages = ingest_into(ledger, path, alongside=alongside)
    seconds = time.perf_counter() - started
    ledger.close()
    return messages, seconds


def rebuild(store: str, policy: str) -> tuple[int, float]:
    ledger = bootstrap(Settings(store=store, policy=policy))
    total = ledger.opened.recorder.last_notification_id()
    started = time.perf_counter()
    events = ledger.rebuild(progress_printer(_label("rebuilding"), total=total))
    seconds = time.perf_counter() - started
    end_progress()
    ledger.close()
    return events, seconds


def main(argv: list[str]) -> int:
    phase, store, policy, *rest = argv
    extra: dict[str, Any] = {}
    if phase == "ingest-marks":
        items, seconds, extra = ingest_marks(store, policy, rest[0])
    elif phase.startswith("ingest"):
        items, seconds = ingest(store, policy, rest[0], alongside=phase == "ingest-alongside")
    elif phase == "audit":
        items, seconds, extra = audit_store(store, policy)
    else:
        items, seconds = rebuild(store, policy)
    sys.stdout.write(orjson.dumps(
        {"items": items, "seconds": seconds, "peak_rss_mb": peak_rss_mb(), **extra}
    ).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
