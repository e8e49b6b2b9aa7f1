"""Hostile input and hostile conditions against real stores, through the command line: a
seeded fuzz corpus mixed into a simulated day on SQLite and PostgreSQL, the same file
ingested by two processes at once, and a store that runs out of space mid-ingest."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from eventsourcing.persistence import OperationalError

from smsledger.consumers.ingest import ingest_lines
from smsledger.infra.bootstrap import bootstrap
from smsledger.infra.cli.main import one_line
from smsledger.infra.settings import Settings
from smsledger.infra.simulation.simulator import SimulationConfig, simulate_lines, write_jsonl
from smsledger.infra.stores.sqlite_connections import SQLiteLedgerPool
from smsledger.projections.queries import run_query

CLI = [sys.executable, "-m", "smsledger.infra.cli"]
VIEWS = ("balances", "orders", "deposits", "refunds", "rejections", "stats")
DAY = SimulationConfig(accounts=300, seed=17)


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return str(request.getfixturevalue("pg_schemas")())


def smsledger(*args: str, cwd: Path, **options: Any) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSLEDGER_")}
    return subprocess.run([*CLI, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=240, **options)


def views(store: str) -> dict[str, bytes]:
    """Every view of valid traffic, as the bytes `query --json` would print."""
    ledger = bootstrap(Settings(store=store))
    try:
        ledger.catch_up()
        return {v: orjson.dumps(run_query(ledger.opened.database, v)) for v in VIEWS}
    finally:
        ledger.close()


def dead_letters(store: str) -> list[dict[str, Any]]:
    ledger = bootstrap(Settings(store=store))
    try:
        return run_query(ledger.opened.database, "dead-letters")
    finally:
        ledger.close()


def processed_rows(store: str) -> int:
    ledger = bootstrap(Settings(store=store))
    try:
        return int(ledger.opened.database.query("SELECT COUNT(*) FROM processed_messages")[0][0])
    finally:
        ledger.close()


def ingest(path: Path, store: str, **options: Any) -> subprocess.CompletedProcess[str]:
    return smsledger("ingest", str(path), "--quiet", "--store", store, cwd=path.parent,
                     **options)


def assert_one_line_error(done: subprocess.CompletedProcess[str], starts: str) -> None:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(starts), done.stderr


@pytest.fixture(scope="module")
def clean_day(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes]]:
    """The simulated day without bad lines, and its views after a file ingest."""
    folder = tmp_path_factory.mktemp("clean")
    path = folder / "clean.jsonl"
    write_jsonl(simulate_lines(DAY), path)
    store = f"sqlite:///{folder / 'clean.db'}"
    assert ingest(path, store).returncode == 0
    return path, views(store)


# --- Fuzz: a seeded hostile corpus in a valid day ------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("share", [0.1, 0.3])
def test_a_fuzzed_day_dead_letters_every_bad_line_and_keeps_the_clean_views(
    store_url: str, tmp_path: Path, clean_day: tuple[Path, dict[str, bytes]], share: float
) -> None:
    clean_path, clean_views = clean_day
    config = SimulationConfig(accounts=DAY.accounts, seed=DAY.seed, bad_input_share=share)
    path = tmp_path / "fuzzed.jsonl"
    lines = write_jsonl(simulate_lines(config), path)
    bad = lines - len(clean_path.read_bytes().splitlines())
    assert bad > 400
    done = ingest(path, store_url)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    counts = dict(part.split(": ") for part in done.stdout.strip().split(", "))
    assert int(counts["dead_lettered"]) == bad
    letters = dead_letters(store_url)
    assert len(letters) == bad
    assert all(d["reason"] and d["detail"] for d in letters)
    reasons = {d["reason"] for d in letters}
    assert {"bad_timestamp", "unprintable_character", "duplicate_id", "line_too_long",
            "malformed_json", "bad_amount", "bad_currency"} <= reasons
    assert views(store_url) == clean_views
    audited = smsledger("audit", "--store", store_url, cwd=tmp_path)
    assert audited.returncode == 0, audited.stdout + audited.stderr
    again = ingest(path, store_url)
    assert again.returncode == 0
    assert "applied: 0," in again.stdout
    assert len(dead_letters(store_url)) == bad, "reading the input again stores nothing twice"


# --- The same file ingested twice at once ------------------------------------------------


@pytest.mark.slow
def test_the_same_file_ingested_by_two_processes_at_once_is_applied_once(
    store_url: str, tmp_path: Path, clean_day: tuple[Path, dict[str, bytes]]
) -> None:
    path, clean_views = clean_day
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSLEDGER_")}
    env["SMSLEDGER_BATCH"] = "500"
    both = [subprocess.Popen([*CLI, "ingest", str(path), "--quiet", "--store", store_url],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    results = [(p.wait(timeout=240), *p.communicate()) for p in both]
    assert [rc for rc, _, _ in results] == [0, 0], results
    assert all("Traceback" not in err for _, _, err in results)
    applied = sorted(int(out.split("applied: ")[1].split(",")[0]) for _, out, _ in results)
    assert applied[0] == 0, "the second to go finds every message a duplicate"
    assert applied[1] > 5000
    assert views(store_url) == clean_views


# --- A store that runs out of space ------------------------------------------------------


def _file_size_limit(limit: int) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_file_size_limit_hit_mid_ingest_ends_it_with_one_line_and_a_rerun_completes(
    tmp_path: Path, clean_day: tuple[Path, dict[str, bytes]]
) -> None:
    """RLIMIT_FSIZE (settable without privileges) stops the store's files growing past
    2 MB, as a full disk would: the write that needs more space fails."""
    path, clean_views = clean_day
    store = f"sqlite:///{tmp_path / 'small.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSLEDGER_")}
    full = subprocess.run([*CLI, "ingest", str(path), "--quiet", "--store", store],
                          env={**env, "SMSLEDGER_BATCH": "500"}, capture_output=True,
                          text=True, timeout=240, preexec_fn=_file_size_limit(2_000_000))
    assert_one_line_error(full, "smsledger ingest: the store failed:")
    assert processed_rows(store) > 0, "the batches before the limit are kept"
    assert ingest(path, store).returncode == 0
    assert views(store) == clean_views


class SmallDiskPool(SQLiteLedgerPool):
    """Connections whose database may not grow past 300 pages (SQLite's max_page_count:
    past it, every write fails with SQLITE_FULL, "database or disk is full", as on a
    full disk)."""

    def _create_connection(self) -> Any:
        connection = super()._create_connection()
        connection._sqlite_conn.execute("PRAGMA max_page_count = 300")
        return connection


def test_a_full_database_keeps_every_whole_batch_and_says_how_to_resume(
    tmp_path: Path, clean_day: tuple[Path, dict[str, bytes]]
) -> None:
    path, clean_views = clean_day
    store = f"sqlite:///{tmp_path / 'full.db'}"
    ledger = bootstrap(Settings(store=store, policy="sms-service"))
    datastore = ledger.opened.app.factory.datastore  # type: ignore[attr-defined]
    pool = datastore.pool
    datastore.pool = SmallDiskPool(
        db_name=pool.db_name, lock_timeout=pool.lock_timeout, pool_size=pool.pool_size,
        max_overflow=pool.max_overflow, pool_timeout=pool.pool_timeout, max_age=pool.max_age,
        pre_ping=pool.pre_ping)
    pool.close()
    with pytest.raises(OperationalError, match="full") as raised:
        ingest_lines(ledger.engine(), path.read_bytes().splitlines(), source=str(path),
                     batch_size=500)
    ledger.close()
    message = one_line(raised.value)
    assert "\n" not in message
    assert "the batch in hand was not stored" in message
    assert processed_rows(store) > 0, "the batches before the full one are kept"
    assert ingest(path, store).returncode == 0
    assert views(store) == clean_views


@pytest.mark.postgres
def test_a_postgres_journal_written_before_digests_gains_the_column(pg_schemas: Any) -> None:
    from tests.integration.conftest import admin_connection

    url = pg_schemas()
    schema = url.rsplit("=", 1)[1]
    admin = admin_connection()
    try:
        admin.execute(f"CREATE SCHEMA {schema}")
        admin.execute(f"CREATE TABLE {schema}.processed_messages (message_id TEXT PRIMARY KEY,"
                      " type TEXT NOT NULL, outcome TEXT NOT NULL, reason TEXT)")
        admin.execute(f"INSERT INTO {schema}.processed_messages VALUES ('m-1', 't', 'applied',"
                      " NULL)")
    finally:
        admin.close()
    ledger = bootstrap(Settings(store=url))
    try:
        assert ledger.opened.store.seen(["m-1", "m-2"]) == {"m-1": (False, None)}
    finally:
        ledger.close()
