"""The SQLite file store's database access: the settings every connection opens with
(write-ahead log, every commit synced, a larger page cache and checkpoint interval) and
the duplicate check's look-up of many ids in one statement, and NULL and BLOB parameters
bound without the sqlite3 module's adapter search."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from smsledger.infra.bootstrap import bootstrap
from smsledger.infra.settings import Settings
from smsledger.infra.stores.sqlite_connections import (
    CACHE_KIB,
    WAL_AUTOCHECKPOINT_PAGES,
    bind_nulls_and_blobs_directly,
)

FULL = 2  # PRAGMA synchronous: the WAL is synced on every commit


def _pragmas(path: Path) -> list[tuple[str, int, int, int]]:
    ledger = bootstrap(Settings(store=f"sqlite:///{path}"))
    pool = ledger.opened.recorder.datastore.pool
    try:
        # Two connections at once: the second is opened new, not handed back from the pool.
        connections = [pool.get_connection(), pool.get_connection()]
        assert connections[0] is not connections[1]
        seen = []
        for connection in connections:
            raw = connection._sqlite_conn
            seen.append((
                raw.execute("PRAGMA journal_mode").fetchone()[0],
                raw.execute("PRAGMA synchronous").fetchone()[0],
                raw.execute("PRAGMA cache_size").fetchone()[0],
                raw.execute("PRAGMA wal_autocheckpoint").fetchone()[0],
            ))
            pool.put_connection(connection)
        return seen
    finally:
        ledger.close()


def test_every_connection_syncs_each_commit_and_checkpoints_less_often(tmp_path: Path) -> None:
    for journal, synchronous, cache, checkpoint in _pragmas(tmp_path / "ledger.db"):
        assert journal == "wal"
        assert synchronous == FULL  # the larger interval costs no durability
        assert cache == -CACHE_KIB
        assert checkpoint == WAL_AUTOCHECKPOINT_PAGES > 1000  # SQLite's default is 1,000


def test_present_finds_exactly_the_stored_ids_among_thousands(tmp_path: Path) -> None:
    ledger = bootstrap(Settings(store=f"sqlite:///{tmp_path / 'ledger.db'}"))
    db = ledger.opened.database
    stored = [f"m-{i:05d}" for i in range(0, 6000, 3)] + ['quo"te', "ünï-ко́д", "a,b"]
    try:
        with db.transaction() as cursor:
            db.executemany(
                cursor,
                "INSERT INTO processed_messages (message, type, outcome) VALUES (?, ?, ?)",
                [(m, "payment.succeeded", "applied") for m in stored],
            )
        asked = [f"m-{i:05d}" for i in range(6000)] + ['quo"te', "ünï-ко́д", "a,b", "a", ""]
        assert db.present("processed_messages", "message", asked) == set(stored)
        assert db.present("processed_messages", "message", []) == set()
        assert db.present("parked_messages", "message", asked) == set()
    finally:
        ledger.close()


def test_nulls_and_blobs_bind_as_themselves_and_other_values_as_before(tmp_path: Path) -> None:
    class Tagged(bytes):
        """A bytes subclass: not matched by the adapter, bound the module's usual way."""

    bind_nulls_and_blobs_directly()
    assert (type(None), sqlite3.PrepareProtocol) in sqlite3.adapters
    assert (bytes, sqlite3.PrepareProtocol) in sqlite3.adapters
    connection = sqlite3.connect(tmp_path / "values.db")
    blob = b"\x00\xffstate"
    connection.execute("CREATE TABLE t (v)")
    values = [None, blob, Tagged(b"tag"), "text", 7, 1.5, bytearray(b"ba"), memoryview(b"mv")]
    connection.executemany("INSERT INTO t VALUES (?)", [(v,) for v in values])
    assert connection.execute("SELECT typeof(v), v FROM t ORDER BY rowid").fetchall() == [
        ("null", None), ("blob", blob), ("blob", b"tag"), ("text", "text"),
        ("integer", 7), ("real", 1.5), ("blob", b"ba"), ("blob", b"mv"),
    ]
    connection.close()


def test_present_tells_ids_with_a_nul_apart_from_their_prefix(tmp_path: Path) -> None:
    """json_each ends a text at a NUL: such ids are looked up as bound parameters."""
    ledger = bootstrap(Settings(store=f"sqlite:///{tmp_path / 'ledger.db'}"))
    db = ledger.opened.database
    try:
        with db.transaction() as cursor:
            db.executemany(
                cursor,
                "INSERT INTO processed_messages (message, type, outcome) VALUES (?, ?, ?)",
                [("m\x00x", "t", "applied"), ("n", "t", "applied")])
        asked = ["m", "m\x00x", "m\x00y", "n\x00", "n"]
        assert db.present("processed_messages", "message", asked) == {"m\x00x", "n"}
    finally:
        ledger.close()


def test_a_journal_written_before_digests_gains_the_column_and_reads_as_duplicates(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as old:
        old.execute("CREATE TABLE processed_messages (message_id TEXT PRIMARY KEY,"
                    " type TEXT NOT NULL, outcome TEXT NOT NULL, reason TEXT)")
        old.execute("INSERT INTO processed_messages VALUES ('m-1', 't', 'applied', NULL)")
    ledger = bootstrap(Settings(store=f"sqlite:///{path}"))
    try:
        assert ledger.opened.store.seen(["m-1", "m-2"]) == {"m-1": (False, None)}
    finally:
        ledger.close()
