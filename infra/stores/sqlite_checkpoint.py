"""Copying SQLite's write-ahead log back into the database file on a thread of its own.

A commit that takes the log past `wal_autocheckpoint` pages copies the log into the
database file and syncs it before it returns; the writer waits. Late in a large ingest
most of what a batch dirties is scattered index pages (the aggregates' keys by id, the
accounts' events), and those copies took 1.0-1.4 s of every 200,000 messages at 2.4M
messages against 0.3 s at the start, all of it on the writer's path.

`BackgroundCheckpoint` runs a PASSIVE checkpoint on a connection of its own once the writer
has committed `every` events since the last one, while the writer goes on with its next
batch in Python (SQLite releases the GIL while it copies). Before the writer begins its
next write transaction it waits for that checkpoint to end (`wait`): the log is then fully
copied, so that transaction starts the log again from its beginning and the log stays as
short as before. The writer's automatic checkpoint is left on: it still bounds the log if a
background checkpoint could not copy everything (a reader in another process holding an
older snapshot) or failed. A writer of small batches (a consumer at low traffic) rarely
reaches `every` events: its log is checkpointed by the commit that fills it, as before.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

log = logging.getLogger(__name__)

# Events committed between two background checkpoints: about four batches of the file
# ingest (8,000 messages, ~12,000 events), whose 8,000-25,000 log pages are about what the
# automatic checkpoint (20,000 pages) let gather.
EVERY_EVENTS = 40_000


class BackgroundCheckpoint:
    """Checkpoints of the database file at `path`, off the writer's thread."""

    def __init__(self, path: str, every: int = EVERY_EVENTS) -> None:
        self.path = path
        self.every = every
        self.done = 0  # checkpoints that ran to the end
        self.error: str | None = None  # the first failure: no checkpoint is started after it
        self._events = 0  # committed since the last checkpoint started
        self._running: threading.Thread | None = None
        self._connection: sqlite3.Connection | None = None

    def wait(self) -> None:
        """The checkpoint in hand, if any, has ended (call before a write transaction)."""
        running, self._running = self._running, None
        if running is not None:
            running.join()

    def committed(self, events: int) -> None:
        """The writer committed a transaction of `events` events: once `every` have been
        committed since the last checkpoint, one starts."""
        self._events += events
        if self._events < self.every or self.error is not None or self._running is not None:
            return
        self._events = 0
        self._running = threading.Thread(target=self._checkpoint, name="sqlite-checkpoint",
                                         daemon=True)
        self._running.start()

    def _checkpoint(self) -> None:
        try:
            if self._connection is None:
                # The name as the pool's connections take it: a path or a `file:` URI.
                self._connection = sqlite3.connect(self.path, uri=True, isolation_level=None,
                                                   check_same_thread=False)
            self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            self.done += 1
        except sqlite3.Error as error:
            self.error = f"{type(error).__name__}: {error}"
            log.warning("background checkpoint of %s failed (%s); the writer's own"
                        " checkpoints bound the log from now on", self.path, self.error)

    def close(self) -> None:
        self.wait()
        if self._connection is not None:
            self._connection.close()
            self._connection = None
