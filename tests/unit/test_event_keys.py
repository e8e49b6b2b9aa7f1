"""SQLite keeps each aggregate's events under a key given in the order the aggregates first
appear; a store written under the library's (originator id, version) key is re-keyed once
when it is opened, every event at its position with its digest."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from smsledger.infra.audit.replay import audit
from smsledger.infra.bootstrap import bootstrap
from smsledger.infra.cli.main import main
from smsledger.infra.settings import Settings
from smsledger.infra.simulation.simulator import SimulationConfig, simulate_lines
from tests.scenario import run

LINES = list(simulate_lines(SimulationConfig(accounts=25, days=1.0, seed=11)))
EVENT_COLUMNS = "rowid, originator_id, originator_version, topic, state, digest"


def _store(tmp_path: Path, lines: list[bytes]) -> str:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    run(lines, store=url, batch_size=150).ledger.close()
    return url


def _rows(path: Path, statement: str) -> list[tuple[object, ...]]:
    connection = sqlite3.connect(path)
    try:
        return connection.execute(statement).fetchall()
    finally:
        connection.close()


def _unkey(path: Path) -> None:
    """Turn the store back into the layout of a store written before keys: the events
    under the library's primary key, no `aggregate_keys`."""
    connection = sqlite3.connect(path, isolation_level=None)
    views = connection.execute("SELECT name, sql FROM sqlite_master WHERE type = 'view'")
    saved = views.fetchall()
    connection.execute("BEGIN")
    for name, _ in saved:
        connection.execute(f'DROP VIEW "{name}"')
    connection.execute(
        "CREATE TABLE old_events (originator_id TEXT, originator_version INTEGER, topic TEXT,"
        " state BLOB, digest BLOB, PRIMARY KEY (originator_id, originator_version))")
    connection.execute(f"INSERT INTO old_events ({EVENT_COLUMNS}) SELECT {EVENT_COLUMNS}"
                       " FROM stored_events")
    connection.execute("DROP TABLE stored_events")
    connection.execute("DROP TABLE aggregate_keys")
    connection.execute("ALTER TABLE old_events RENAME TO stored_events")
    for _, sql in saved:
        connection.execute(sql)
    connection.execute("COMMIT")
    connection.close()


def test_keys_follow_first_appearance_and_each_aggregate_has_one(tmp_path: Path) -> None:
    _store(tmp_path, LINES)
    path = tmp_path / "ledger.db"
    firsts = [row[0] for row in _rows(
        path, "SELECT originator_id FROM stored_events GROUP BY originator_id"
              " ORDER BY MIN(rowid)")]
    keys = _rows(path, "SELECT originator_id FROM aggregate_keys ORDER BY key")
    assert [row[0] for row in keys] == firsts
    assert len(firsts) > 100
    unkeyed = _rows(path, "SELECT COUNT(*) FROM stored_events e JOIN aggregate_keys k"
                          " ON k.key = e.aggregate_key WHERE k.originator_id != e.originator_id")
    assert unkeyed == [(0,)]
    plan = " ".join(str(row) for row in _rows(
        path, "EXPLAIN QUERY PLAN SELECT * FROM stored_events WHERE aggregate_key ="
              " (SELECT key FROM aggregate_keys WHERE originator_id = 'x')"
              " ORDER BY originator_version"))
    assert "stored_events_by_key" in plan
    assert "SCAN stored_events" not in plan


def test_a_second_creation_and_a_second_event_of_a_version_are_refused(tmp_path: Path) -> None:
    ledger = bootstrap(Settings(store=_store(tmp_path, LINES[:400])))
    try:
        recorder = ledger.opened.recorder
        stored = recorder.select_notifications(1, 1)[0]
        first = StoredEvent(stored.originator_id, stored.originator_version, stored.topic,
                            stored.state)
        with pytest.raises(IntegrityError):
            recorder.insert_events([first])
        later = recorder.select_events(stored.originator_id, desc=True, limit=1)[0]
        with pytest.raises(IntegrityError):
            recorder.insert_events([later])
        assert recorder.last_notification_id() == ledger.opened.database.query(
            "SELECT COUNT(*) FROM stored_events")[0][0]
    finally:
        ledger.close()


def _copy(stored: StoredEvent, originator: UUID | None = None, version: int | None = None
          ) -> StoredEvent:
    return StoredEvent(originator or stored.originator_id,
                       stored.originator_version if version is None else version,
                       stored.topic, stored.state)


def test_keys_are_remembered_only_once_their_transaction_commits(tmp_path: Path) -> None:
    url = _store(tmp_path, LINES[:400])
    ledger = bootstrap(Settings(store=url))
    try:
        recorder = ledger.opened.recorder
        existing = recorder.select_notifications(1, 1)[0]
        fresh = _copy(existing, uuid4(), 1)
        with pytest.raises(IntegrityError):  # the existing aggregate's creation fails the batch
            recorder.insert_events([fresh, _copy(existing)])
        recorder.insert_events([fresh])
        recorder.insert_events([_copy(existing, fresh.originator_id, 2)])
        # In a new process nothing is remembered: the key is looked up, once.
        other = bootstrap(Settings(store=url))
        other.opened.recorder.insert_events([_copy(existing, fresh.originator_id, 3)])
        with pytest.raises(IntegrityError, match="without its first event"):
            other.opened.recorder.insert_events([_copy(existing, uuid4(), 2)])
        other.close()
    finally:
        ledger.close()
    path = tmp_path / "ledger.db"
    rows = _rows(path, "SELECT e.originator_version, e.aggregate_key, k.key FROM stored_events e"
                       " JOIN aggregate_keys k ON k.originator_id = e.originator_id"
                       f" WHERE e.originator_id = '{fresh.originator_id.hex}'"
                       " ORDER BY e.originator_version")
    top = _rows(path, "SELECT MAX(key) FROM aggregate_keys")[0][0]
    assert rows == [(1, top, top), (2, top, top), (3, top, top)]


def test_an_older_store_is_rekeyed_once_with_positions_digests_and_verdicts_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    half = len(LINES) // 2
    url = _store(tmp_path, LINES[:half])
    path = tmp_path / "ledger.db"
    before = _rows(path, f"SELECT {EVENT_COLUMNS} FROM stored_events ORDER BY rowid")
    balances = _rows(path, "SELECT * FROM balances ORDER BY id")
    _unkey(path)
    capsys.readouterr()

    ledger = bootstrap(Settings(store=url))
    try:
        assert ledger.opened.recorder.rekeyed == len(before)
        assert f"{len(before)} events" in capsys.readouterr().err
        report = audit(ledger)
        assert report.clean, report.problems
    finally:
        ledger.close()
    assert _rows(path, f"SELECT {EVENT_COLUMNS} FROM stored_events ORDER BY rowid") == before
    assert _rows(path, "SELECT * FROM balances ORDER BY id") == balances
    assert "stored_events_by_key" in {row[0] for row in _rows(
        path, "SELECT name FROM sqlite_master WHERE tbl_name = 'stored_events'")}

    # The re-keyed store goes on as one that was never re-keyed: same log, same head.
    rest = tmp_path / "rest.jsonl"
    rest.write_bytes(b"".join(line + b"\n" for line in LINES[half:]))
    never = tmp_path / "never"
    never.mkdir()
    urls = [url, _store(never, LINES[:half])]
    for store in urls:
        assert main(["ingest", "--store", store, "--quiet", str(rest)]) == 0
    reopened = bootstrap(Settings(store=url))
    assert reopened.opened.recorder.rekeyed is None
    reopened.close()
    heads = [_rows(Path(u.removeprefix("sqlite:///")), "SELECT head_position, head_digest"
                   " FROM ledger_chain") for u in urls]
    assert heads[0] == heads[1]
    assert heads[0][0][0] > len(before)
    assert main(["audit", "--store", url]) == 0
