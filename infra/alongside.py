"""Folding the read models in a second process while the first ingests: the machine's
second core. The fold is the same catch-up as ever (its own transactions, tracking position
and stale marks), so the result does not depend on how the two interleave; the ingesting
process catches up once more at the end.

The child takes its orders from the parent alone: it ignores SIGTERM and SIGINT (a signal
to the process group, as `timeout` and systemd send, reaches both; the parent stops it), and
leaves when the parent closes its end of a pipe, or dies (the pipe closes with it). A child
that dies is restarted a few times, then the parent is told to stop.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from typing import Any

from smsledger.infra.bootstrap import bootstrap
from smsledger.infra.observability.logs import LEVELS, JsonFormatter, configure_logging
from smsledger.infra.settings import Settings

log = logging.getLogger(__name__)

# Below this much input the second interpreter's start-up costs more than it saves.
WORTH_IT_BYTES = 2_000_000
# On SQLite, the log size from which one process is faster: the two share the database's
# one write lock (a fold holds it while it folds) and every commit of one empties the
# other's page cache, so the ingest waits longer as the log grows. Measured (wall clock of
# ingest and final catch-up, BENCHMARKS.md 2026-12-02): two processes faster at 198,505
# messages (~300k events, 14.7k against 13.3k msg/s) and 492,945 (~740k; 8.9k against
# 8.3k), slower at 737,680 (~1.1M; 4.6k against 7.9k) and beyond. The store's events plus
# the input's estimated ones are compared with this.
ALONE_FROM_EVENTS = 800_000
# Bytes of JSONL input per stored event, for that estimate (simulated traffic: 104).
INPUT_BYTES_PER_EVENT = 100
# The most of the child's time the derived columns may take. Refreshing them reads what a
# stale period holds (a day's orders for the series, the deposits past their window), which
# grows with the log: refreshed after every fold, as a catch-up does, they took the child's
# CPU per 300,000 events from 7.9 s to 26.7 s over a 1.2M-message ingest of one simulated
# day, and the ingest waited on the write lock meanwhile. Paced to this share, their cost
# per event stays bounded; the ingest's own catch-up at the end refreshes them in full.
REFRESH_SHARE = 0.2
# How long a stopping child may finish the catch-up in hand before it is killed (each fold
# is a transaction of its own: killing it loses nothing).
STOP_GRACE_S = 10.0
# Deaths within this span, beyond which the child is not started again.
RESTARTS = 3
RESTART_SPAN_S = 600.0


def worth_it(store: str, input_bytes: int, events_stored: int) -> bool:
    """Whether to fold the read models in a second process while ingesting `input_bytes`
    of JSONL into a store that holds `events_stored` events: where it was measured faster."""
    if input_bytes < WORTH_IT_BYTES:
        return False
    if not store.startswith("sqlite"):
        return True  # no shared write lock; not measured at scale
    return events_stored + input_bytes // INPUT_BYTES_PER_EVENT < ALONE_FROM_EVENTS


class ReadModelProcessFailed(RuntimeError):
    """The read-model process kept dying; the ledger is sound, the read models lag."""


def project_until_told(store: str, policy: str, stop: Connection, logging_: tuple[str, str]
                       ) -> None:
    """The child: catch up, again and again, until the parent closes `stop` (or dies)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    configure_logging(*logging_)
    ledger = bootstrap(Settings(store=store, policy=policy))
    pacer = RefreshPacer()
    try:
        folded = 1
        while not stop.poll(0 if folded else 0.05):  # True on a message and on EOF
            folded = ledger.catch_up(derive=False)
            pacer.folded(folded)
            if pacer.due():
                with pacer.refreshing():
                    ledger.refresh_derived()
    except Exception:
        log.exception("read-model process failed")
        raise SystemExit(1) from None
    finally:
        ledger.close()


class RefreshPacer:
    """When the child refreshes the derived columns: when events were folded since the
    last refresh and that refresh took at most `share` of the time since it began (the
    first at once). A child that keeps up with the ingest, folding a batch at each of its
    commits, would otherwise refresh after every commit, however long a refresh takes."""

    def __init__(self, share: float = REFRESH_SHARE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ratio = (1 - share) / share
        self.clock = clock
        self.last_refresh_s = 0.0
        self.ended_at = clock()
        self.pending = 0

    def folded(self, events: int) -> None:
        self.pending += events

    def due(self) -> bool:
        return bool(self.pending) and (
            self.clock() - self.ended_at >= self.last_refresh_s * self.ratio)

    @contextmanager
    def refreshing(self) -> Iterator[None]:
        started = self.clock()
        yield
        self.ended_at = self.clock()
        self.last_refresh_s, self.pending = self.ended_at - started, 0


class AlongsideProjector:
    """The child process, watched: `check()` restarts it when it died, `stop()` ends it."""

    def __init__(self, store: str, policy: str, *,
                 target: Callable[..., None] = project_until_told) -> None:
        self.store, self.policy, self.target = store, policy, target
        self.context = multiprocessing.get_context("spawn")
        self.deaths: list[float] = []
        self.restarts = 0
        self.child: Any = None
        self._stop: Connection | None = None

    def start(self) -> None:
        reader, self._stop = self.context.Pipe(duplex=False)
        settings = _logging_of(logging.getLogger())
        self.child = self.context.Process(
            target=self.target, args=(self.store, self.policy, reader, settings), daemon=True,
            name="smsledger-read-models")
        self.child.start()
        reader.close()  # the child's copy is its own; ours would keep the pipe open
        log.debug("read-model process started", extra={"pid": self.child.pid})

    def check(self) -> None:
        """Restart a child that died; raise `ReadModelProcessFailed` when it keeps dying."""
        if self.child is None or self.child.exitcode is None:
            return
        code = self.child.exitcode
        now = time.monotonic()
        self.deaths = [t for t in self.deaths if now - t < RESTART_SPAN_S] + [now]
        if len(self.deaths) > RESTARTS:
            self._close_pipe()
            self.child = None
            raise ReadModelProcessFailed(
                f"the read-model process died {len(self.deaths)} times in "
                f"{RESTART_SPAN_S:.0f} s (last exit code {code}); stopping (the events are "
                "stored: `smsledger project` catches the read models up)")
        log.error("read-model process died, restarting it",
                  extra={"exit_code": code, "deaths": len(self.deaths)})
        self._close_pipe()
        self.restarts += 1
        self.start()

    def stop(self, grace: float = STOP_GRACE_S) -> int | None:
        """Tell the child to leave, give it `grace` seconds, then kill it; its exit code."""
        self._close_pipe()
        child, self.child = self.child, None
        if child is None:
            return None
        child.join(timeout=grace)
        if child.is_alive():
            log.warning("read-model process still busy after %.0f s, killed", grace)
            child.kill()
            child.join(timeout=grace)
        if child.exitcode not in (0, None):
            # Nothing is lost: the caller's own catch-up folds whatever the child did not.
            log.warning("read-model process ended with exit code %s", child.exitcode)
        return child.exitcode  # type: ignore[no-any-return]

    def _close_pipe(self) -> None:
        if self._stop is not None:
            self._stop.close()
            self._stop = None


def _logging_of(root: logging.Logger) -> tuple[str, str]:
    """The level and format this process logs with, for the child to log the same way."""
    level = logging.getLevelName(root.level).lower()
    json = any(isinstance(h.formatter, JsonFormatter) for h in root.handlers)
    return (level if level in LEVELS else "warning", "json" if json else "text")


@contextmanager
def projecting_alongside(
    store: str, policy: str, *, enabled: bool
) -> Iterator[AlongsideProjector | None]:
    """Run the body with a projector process beside it (file-backed stores only)."""
    if not enabled or "mode=memory" in store or ":memory:" in store:
        yield None
        return
    projector = AlongsideProjector(store, policy)
    projector.start()
    try:
        yield projector
    finally:
        projector.stop()
