"""One file ingest at a time per store: a lock held for the whole run, so that the same
input ingested twice at once is applied by one process while the other waits (and then
finds every message a duplicate), instead of two processes interleaving batches."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

# The first key of the PostgreSQL advisory lock (the second is the schema's hash).
INGEST_LOCK = 0x736D7369  # "smsi"


@contextmanager
def sole_ingest(database: Any, waiting: Callable[[], None]) -> Iterator[None]:
    """Hold the store's ingest lock; `waiting()` is called once if another holds it."""
    if database.dialect == "postgres":
        with _advisory_lock(database, waiting):
            yield
        return
    pool = database.datastore.pool
    if pool.is_sqlite_memory_mode:
        yield  # private to this process
        return
    with _file_lock(f"{pool.db_name}.ingest-lock", waiting):
        yield


@contextmanager
def _file_lock(path: str, waiting: Callable[[], None]) -> Iterator[None]:
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            waiting()
            fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # releases the lock


@contextmanager
def _advisory_lock(database: Any, waiting: Callable[[], None]) -> Iterator[None]:
    """A session lock on a connection of its own, held until the ingest ends (or its
    process does)."""
    with database.datastore.get_connection() as connection:
        key = "%s, hashtext(current_schema())"
        held = connection.execute(f"SELECT pg_try_advisory_lock({key})", (INGEST_LOCK,))
        if not next(iter(held.fetchone().values())):
            waiting()
            connection.execute(f"SELECT pg_advisory_lock({key})", (INGEST_LOCK,))
        connection.commit()
        try:
            yield
        finally:
            connection.execute(f"SELECT pg_advisory_unlock({key})", (INGEST_LOCK,))
            connection.commit()
