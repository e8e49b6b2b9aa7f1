"""The settings every connection to a SQLite file store opens with: write-ahead log,
every commit synced, a larger page cache and a larger checkpoint interval."""

from __future__ import annotations

from pathlib import Path

from smsledger.infra.bootstrap import bootstrap
from smsledger.infra.settings import Settings
from smsledger.infra.sqlite_store import CACHE_KIB, WAL_AUTOCHECKPOINT_PAGES

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
