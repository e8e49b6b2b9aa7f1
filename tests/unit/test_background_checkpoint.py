"""The SQLite writer's checkpoints run on a thread of their own after every so many events, and
the write-ahead log starts again from its beginning at the next commit: with the automatic
checkpoint turned off, the log file stays a few batches long, where without the background
checkpoints it holds every batch; the store reads the same either way. A checkpoint that
fails is reported and not tried again; the writer's commits are not affected."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from smsledger.consumers.ingest import ingest_lines
from smsledger.infra.bootstrap import bootstrap
from smsledger.infra.settings import Settings
from smsledger.infra.simulation.simulator import SimulationConfig, simulate_lines
from smsledger.infra.stores import sqlite_connections
from smsledger.infra.stores.sqlite_checkpoint import BackgroundCheckpoint

LINES = list(simulate_lines(SimulationConfig(accounts=60, days=1.0, seed=5)))
BATCH = 50
EVERY = 60  # events: about two batches of BATCH messages


def _ingest(path: Path, *, background: bool) -> tuple[int, int, int]:
    """(log file bytes, background checkpoints done, events stored) after ingesting LINES,
    a checkpoint due every EVERY events."""
    ledger = bootstrap(Settings(store=f"sqlite:///{path}"))
    recorder = ledger.opened.recorder
    checkpoint = recorder.checkpoint
    assert isinstance(checkpoint, BackgroundCheckpoint)
    checkpoint.every = EVERY
    if not background:
        recorder.checkpoint = None
    try:
        ingest_lines(ledger.engine(), iter(LINES), source="test", batch_size=BATCH)
        checkpoint.wait()
        wal_bytes = path.with_name(path.name + "-wal").stat().st_size
        events = recorder.last_notification_id()
    finally:
        ledger.close()
    return wal_bytes, checkpoint.done, events


def test_background_checkpoints_keep_the_log_short(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_connections, "WAL_AUTOCHECKPOINT_PAGES", 0)  # 0: none automatic
    short, done, events = _ingest(tmp_path / "background.db", background=True)
    long, none_done, same_events = _ingest(tmp_path / "writer-only.db", background=False)
    assert events == same_events > 20 * EVERY
    # One each time EVERY events or more were committed since the last (a batch holds up to
    # twice EVERY events), never more often.
    assert events // (3 * EVERY) <= done <= events // EVERY
    assert none_done == 0
    assert short * 3 < long  # the log restarted after each checkpoint; without, it holds all


def test_the_file_holds_every_event_once_the_store_is_closed(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    _, done, events = _ingest(path, background=True)
    assert done > 0
    connection = sqlite3.connect(path)
    try:
        assert connection.execute("SELECT count(*) FROM stored_events").fetchone()[0] == events
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        connection.close()


def test_a_failed_checkpoint_is_reported_and_not_tried_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("WARNING", logger="smsledger.infra.stores.sqlite_checkpoint")
    checkpoint = BackgroundCheckpoint(str(tmp_path / "missing" / "ledger.db"), every=10)
    checkpoint.committed(4)
    assert checkpoint._running is None  # fewer than `every` events: none due yet
    checkpoint.committed(6)
    checkpoint.wait()
    assert checkpoint.error is not None
    assert "OperationalError" in checkpoint.error
    assert checkpoint.done == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert "background checkpoint of" in warnings[0]
    assert "OperationalError" in warnings[0]
    checkpoint.committed(10)
    assert checkpoint._running is None  # no thread started after the failure
    checkpoint.close()
