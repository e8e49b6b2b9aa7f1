"""What the hash chain costs the ingest: the digests of every event the SQLite ingest
wrote, computed again with the recorder's own function and timed, against the ingest's
time; and whether they equal the digests it stored."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from smsledger.infra.stores.chain import GENESIS, chain_digests


def chain_cost(store: Path, ingest_seconds: float) -> tuple[dict[str, Any], bool]:
    connection = sqlite3.connect(store)
    rows = connection.execute(
        "SELECT originator_id, originator_version, topic, state, digest FROM stored_events"
        " ORDER BY rowid").fetchall()
    connection.close()
    events = [StoredEvent(UUID(r[0]), r[1], r[2], r[3]) for r in rows]
    started = time.perf_counter()
    digests = chain_digests(GENESIS, events)
    seconds = time.perf_counter() - started
    figures = {
        "events": len(events),
        "hash_seconds": round(seconds, 3),
        "hash_us_per_event": round(seconds / max(len(events), 1) * 1e6, 2),
        "share_of_ingest": round(seconds / ingest_seconds, 3) if ingest_seconds else None,
    }
    return figures, digests == [r[4] for r in rows] and bool(rows)
