"""Folding the read models in a second process while the first ingests: the machine's
second core. The fold is the same catch-up as ever (its own transactions, tracking position
and stale marks), so the result does not depend on how the two interleave; the ingesting
process catches up once more at the end."""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from smsledger.infra.bootstrap import bootstrap
from smsledger.infra.settings import Settings

# Below this much input the second interpreter's start-up costs more than it saves.
WORTH_IT_BYTES = 2_000_000


def _project_until_done(store: str, policy: str, done: Any) -> None:
    parent = multiprocessing.parent_process()
    ledger = bootstrap(Settings(store=store, policy=policy))
    try:
        # A parent killed outright never sets `done`: notice it and leave.
        while not done.is_set() and (parent is None or parent.is_alive()):
            if ledger.catch_up() == 0:
                done.wait(0.05)
    finally:
        ledger.close()


@contextmanager
def projecting_alongside(store: str, policy: str, *, enabled: bool) -> Iterator[None]:
    """Run the body with a projector process beside it (file-backed stores only)."""
    if not enabled or "mode=memory" in store or ":memory:" in store:
        yield
        return
    context = multiprocessing.get_context("spawn")
    done = context.Event()
    child = context.Process(target=_project_until_done, args=(store, policy, done), daemon=True)
    child.start()
    try:
        yield
    finally:
        done.set()
        child.join(timeout=600)
    if child.exitcode != 0:
        # Nothing is lost: the caller's own catch-up folds whatever the child did not.
        sys.stderr.write(f"read-model process ended with exit code {child.exitcode}\n")
