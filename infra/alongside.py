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
# How long a stopping child may finish the catch-up in hand before it is killed (each fold
# is a transaction of its own: killing it loses nothing).
STOP_GRACE_S = 10.0
# Deaths within this span, beyond which the child is not started again.
RESTARTS = 3
RESTART_SPAN_S = 600.0


class ReadModelProcessFailed(RuntimeError):
    """The read-model process kept dying; the ledger is sound, the read models lag."""


def project_until_told(store: str, policy: str, stop: Connection, logging_: tuple[str, str]
                       ) -> None:
    """The child: catch up, again and again, until the parent closes `stop` (or dies)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    configure_logging(*logging_)
    ledger = bootstrap(Settings(store=store, policy=policy))
    try:
        folded = 1
        while not stop.poll(0 if folded else 0.05):  # True on a message and on EOF
            folded = ledger.catch_up()
    except Exception:
        log.exception("read-model process failed")
        raise SystemExit(1) from None
    finally:
        ledger.close()


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
