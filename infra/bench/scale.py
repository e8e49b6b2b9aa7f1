"""`smsledger bench --scale N`: how the cost of ingest, audit and rebuild moves with the size
of the log. The ingest is timed slice by slice (messages per second of each slice of the
input), and so is a raw `executemany` of the same stored rows in the same order, the
floor that SQLite's indexes alone impose; the last slice's rate over the first's is the
shape that must stay flat. `--scale-store URL` runs the same phases on another store (a
PostgreSQL URL; a schema of its own is made when the URL names none, and dropped after);
the raw baseline is SQLite's alone."""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smsledger.infra.bench.phase import Phase, child_phase
from smsledger.infra.simulation.simulator import config_for_size, simulate_lines, write_jsonl
from smsledger.infra.stores.sqlite_keys import INITIAL_VERSION, KEYS_TABLE, events_ddl
from smsledger.infra.stores.urls import masked

SLICE = 200_000


@dataclass(frozen=True)
class Slice:
    at: int  # messages ingested when the slice ended
    seconds: float

    def rate(self, size: int) -> float:
        return size / self.seconds if self.seconds else 0.0


def slices_from_marks(marks: list[tuple[int, float]], size: int) -> list[Slice]:
    """Full slices of `size` messages from (messages read, seconds since start) marks taken
    at batch boundaries; a boundary between two marks is placed by linear interpolation."""
    found: list[Slice] = []
    previous_time, next_boundary = 0.0, size
    last_count, last_time = 0, 0.0
    for count, seconds in marks:
        while count >= next_boundary:
            share = (next_boundary - last_count) / (count - last_count)
            at_time = last_time + share * (seconds - last_time)
            found.append(Slice(next_boundary, at_time - previous_time))
            previous_time, next_boundary = at_time, next_boundary + size
        last_count, last_time = count, seconds
    return found


def keyed_target(target_db: Path) -> sqlite3.Connection:
    """An empty database with the store's own events layout (`sqlite_keys`): what a raw
    insert of stored rows is measured against."""
    target = sqlite3.connect(target_db, isolation_level=None)
    target.execute("PRAGMA journal_mode=WAL")
    for statement in events_ddl("stored_events"):
        target.execute(statement)
    target.execute("ALTER TABLE stored_events ADD COLUMN digest BLOB")
    return target


def raw_insert(target: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    """(originator id, version, topic, state, digest, aggregate key) rows inserted as the
    recorder inserts them, in one transaction: each new aggregate's key, then the events
    under their keys."""
    target.execute("BEGIN")
    target.executemany(f"INSERT INTO {KEYS_TABLE} (key, originator_id) VALUES (?, ?)",
                       [(row[5], row[0]) for row in rows if row[1] == INITIAL_VERSION])
    target.executemany(
        "INSERT INTO stored_events (originator_id, originator_version, topic, state, digest,"
        " aggregate_key) VALUES (?, ?, ?, ?, ?, ?)", rows)
    target.execute("COMMIT")


def raw_slices(source_db: Path, target_db: Path, n_slices: int) -> list[float]:
    """Seconds of each of `n_slices` equal slices of the stored-event rows (a remainder of
    fewer rows than a slice is left out), inserted in their stored order with executemany,
    one transaction a slice, into a table with the store's layout."""
    source = sqlite3.connect(source_db)
    total = source.execute("SELECT count(*) FROM stored_events").fetchone()[0]
    per_slice = max(total // max(n_slices, 1), 1)
    target = keyed_target(target_db)
    cursor = source.execute(
        "SELECT originator_id, originator_version, topic, state, digest, aggregate_key"
        " FROM stored_events ORDER BY rowid")
    timings = []
    for _ in range(n_slices):
        rows = cursor.fetchmany(per_slice)
        started = time.perf_counter()
        raw_insert(target, rows)
        timings.append(time.perf_counter() - started)
    source.close()
    target.close()
    return timings


def _ratio(first: float, last: float) -> float:
    return round(last / first, 3) if first else 0.0


def scale_store(workdir: Path, given: str | None) -> tuple[str, str | None]:
    """The store the scale phases use, and the schema to drop after (None: keep it). A
    PostgreSQL URL that names no schema gets a throw-away one."""
    if given is None:
        return f"sqlite:///{workdir / 'scale.db'}", None
    if not given.startswith("postgres") or "schema=" in given:
        return given, None
    schema = f"bench_scale_{os.getpid()}"
    return f"{given}{'&' if '?' in given else '?'}schema={schema}", schema


def scale_phase(
    messages: int, workdir: Path, policy: str, slice_size: int = SLICE,
    store_url: str | None = None,
) -> dict[str, Any]:
    """Ingest `messages` simulated messages the default way, then audit and rebuild the
    store, each in a fresh process; the figures of the `scale` object of the bench JSON."""
    jsonl = workdir / "scale.jsonl"
    written = write_jsonl(simulate_lines(config_for_size(messages, seed=1)), jsonl)
    store, throw_away = scale_store(workdir, store_url)
    try:
        figures = _scale_phases(store, workdir, jsonl, policy, slice_size)
    finally:
        jsonl.unlink()
        if throw_away is not None:
            _drop_schema(store, throw_away)
    return {"messages": written, "slice": slice_size, "store": masked(store), **figures}


def _drop_schema(store: str, schema: str) -> None:
    from smsledger.infra.stores.selection import open_store

    opened = open_store(store, create=False)
    try:
        with opened.database.transaction() as cursor:
            opened.database.execute(cursor, f"DROP SCHEMA {schema} CASCADE")
    finally:
        opened.close()


def _scale_phases(
    store: str, workdir: Path, jsonl: Path, policy: str, slice_size: int
) -> dict[str, Any]:
    ingest: Phase = child_phase("scale ingest", "msgs", "ingest-marks", store, policy,
                                str(jsonl))
    marks = ingest.extra["marks"]
    slices = slices_from_marks([(int(m[0]), float(m[1])) for m in marks], slice_size)
    cpu = slices_from_marks([(int(m[0]), float(m[2])) for m in marks], slice_size)
    rates = [s.rate(slice_size) for s in slices]
    raw: list[float] = []
    if store.startswith("sqlite:///"):
        raw = raw_slices(Path(store.removeprefix("sqlite:///")), workdir / "scale-raw.db",
                         len(slices))
    raw_rates = [1 / s if s else 0.0 for s in raw]
    audit = child_phase("scale audit", "events", "audit", store, policy)
    rebuild = child_phase("scale rebuild", "events", "rebuild", store, policy)
    return {
        "ingest_s": round(ingest.seconds, 2),
        "ingest_peak_rss_mb": round(ingest.peak_rss_mb, 1),
        "slices": [{"at": s.at, "msgs_per_s": round(r), "cpu_s": round(c.seconds, 2)}
                   for s, r, c in zip(slices, rates, cpu, strict=True)],
        "last_first_ratio": _ratio(rates[0], rates[-1]) if rates else None,
        "raw_slices_s": [round(s, 3) for s in raw],
        "raw_last_first_ratio": _ratio(raw_rates[0], raw_rates[-1]) if raw_rates else None,
        "events": rebuild.items,
        "audit_s": round(audit.seconds, 2),
        "audit_peak_rss_mb": round(audit.peak_rss_mb, 1),
        "audit_clean": bool(audit.extra.get("clean")),
        "rebuild_s": round(rebuild.seconds, 2),
        "rebuild_peak_rss_mb": round(rebuild.peak_rss_mb, 1),
    }
