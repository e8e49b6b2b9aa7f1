"""Which stores the command line opens and creates, as a user meets it: read-only commands
refuse a store that holds no ledger, writers create it private to its owner, a URL's
password never shows, a missing extra is named, PostgreSQL's own schemas are refused."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import SERVER, admin_connection

CLI = [sys.executable, "-m", "smsledger.infra.cli"]
TICK = b'{"id":"tick-1","type":"clock.tick","at":"2026-06-03T00:00:00Z","data":{}}\n'
NEEDS_LEDGER = [["query", "balances"], ["history", "acc-0001"], ["audit"], ["project"],
             ["project", "--rebuild"]]


def user_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSLEDGER_")}
    return {**env, **extra}


def smsledger(*args: str, cwd: Path, stdin: bytes = b"",
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*CLI, *args], cwd=cwd, env=env or user_env(), input=stdin,
                          capture_output=True, timeout=120)


def one_line_error(done: subprocess.CompletedProcess[bytes]) -> str:
    said = done.stderr.decode().strip().splitlines()
    assert done.returncode == 2, done.stderr.decode()
    assert len(said) == 1, said
    assert done.stdout == b""
    return said[0]


@pytest.fixture
def ingested(tmp_path: Path) -> Path:
    store = tmp_path / "ledger.db"
    done = smsledger("ingest", "-", "--store", f"sqlite:///{store}", cwd=tmp_path, stdin=TICK)
    assert done.returncode == 0, done.stderr.decode()
    return store


# --- read-only commands never create a store ---------------------------------------------


@pytest.mark.parametrize("command", NEEDS_LEDGER, ids=" ".join)
def test_a_read_only_command_refuses_a_store_that_does_not_exist(
    command: list[str], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/typo.db"
    said = one_line_error(smsledger(*command, "--store", url, cwd=tmp_path))
    assert url in said
    assert "does not exist" in said
    assert list(tmp_path.iterdir()) == []


def test_query_without_a_store_flag_does_not_create_the_default_store(tmp_path: Path) -> None:
    said = one_line_error(smsledger("query", "balances", cwd=tmp_path))
    assert "sqlite:///./smsledger.db" in said
    assert list(tmp_path.iterdir()) == []


def test_a_read_only_command_refuses_a_sqlite_file_without_a_ledger(tmp_path: Path) -> None:
    import sqlite3

    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE notes (x)")
    db.close()
    said = one_line_error(smsledger("query", "orders", "--store", f"sqlite:///{other}",
                                    cwd=tmp_path))
    assert "holds no ledger" in said
    with sqlite3.connect(other) as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
    db.close()
    assert tables == {"notes"}


def test_a_read_only_command_refuses_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a database\n" * 100)
    said = one_line_error(smsledger("audit", "--store", f"sqlite:///{text}", cwd=tmp_path))
    assert "not a SQLite database" in said


def test_read_only_commands_open_a_store_an_ingest_made(ingested: Path) -> None:
    done = smsledger("query", "balances", "--store", f"sqlite:///{ingested}",
                     cwd=ingested.parent)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().startswith("(no rows)")


# --- stores are private to their owner ----------------------------------------------------


def test_a_new_sqlite_store_and_its_wal_files_are_readable_by_the_owner_only(
    tmp_path: Path
) -> None:
    os.umask(0o022)  # the usual umask, which leaves new files readable by everyone
    store = tmp_path / "private.db"
    lines = b"".join(
        b'{"id":"m%d","type":"account.opened","at":"2026-06-01T10:00:00Z",'
        b'"data":{"account":"a%d","currency":"USD","eu_consumer":false}}\n' % (i, i)
        for i in range(50)
    )
    writer = subprocess.Popen(
        [*CLI, "ingest", "-", "--store", f"sqlite:///{store}"], cwd=tmp_path, env=user_env(),
        stdin=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    assert writer.stdin is not None
    writer.stdin.write(lines)
    writer.stdin.flush()
    # While the writer runs (stdin still open), its WAL and shared-memory files exist.
    wal, shm = Path(f"{store}-wal"), Path(f"{store}-shm")
    seen = _wait_for(lambda: wal.exists() and shm.exists())
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (store, wal, shm) if p.exists()}
    writer.stdin.close()
    assert writer.wait(timeout=60) == 0, writer.stderr.read() if writer.stderr else ""
    assert seen, "the writer never had its WAL open"
    assert modes == {"private.db": 0o600, "private.db-wal": 0o600, "private.db-shm": 0o600}
    assert stat.S_IMODE(store.stat().st_mode) == 0o600


def _wait_for(condition: object, seconds: float = 30.0) -> bool:
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


# --- passwords never show ----------------------------------------------------------------


def test_an_unsupported_store_url_is_shown_without_its_password(tmp_path: Path) -> None:
    said = one_line_error(smsledger("query", "orders", "--store",
                                    "mysql://admin:hunter2secret@db.example/ledger",
                                    cwd=tmp_path))
    assert "hunter2secret" not in said
    assert "mysql://admin:***@db.example/ledger" in said


@pytest.mark.postgres
def test_a_policy_mismatch_is_reported_without_the_password(pg_schemas: object,
                                                             tmp_path: Path) -> None:
    url = pg_schemas()  # type: ignore[operator]
    secret = url.replace("postgresql://postgres@", "postgresql://postgres:s3cr3t-pw@")
    made = smsledger("ingest", "-", "--store", secret, "--policy", "1001sms", cwd=tmp_path,
                     stdin=TICK)
    assert made.returncode == 0, made.stderr.decode()  # trust auth ignores the password
    said = one_line_error(smsledger("ingest", "-", "--store", secret, "--policy", "sms-service",
                                    cwd=tmp_path, stdin=TICK))
    assert "runs policy '1001sms'" in said
    assert "s3cr3t-pw" not in said
    assert "postgres:***@" in said


@pytest.mark.postgres
def test_an_unreachable_server_is_reported_without_the_password(tmp_path: Path) -> None:
    said = one_line_error(smsledger(
        "query", "orders", "--store",
        "postgresql://postgres:pw-never-shown@127.0.0.1:1/test?schema=s&password=pw-two",
        cwd=tmp_path, env=user_env(SMSLEDGER_DEBUG="")))
    assert "pw-never-shown" not in said
    assert "pw-two" not in said
    assert "cannot connect" in said


# --- PostgreSQL: schemas ---------------------------------------------------------------


@pytest.fixture
def fresh_schema() -> Iterator[str]:
    admin = admin_connection()
    name = f"test_{uuid.uuid4().hex[:12]}"
    try:
        yield name
    finally:
        admin.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        admin.close()


def schema_exists(name: str) -> bool:
    admin = admin_connection()
    try:
        return admin.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s",
                             (name,)).fetchone() is not None
    finally:
        admin.close()


@pytest.mark.postgres
@pytest.mark.parametrize("command", NEEDS_LEDGER, ids=" ".join)
def test_a_read_only_command_refuses_a_schema_that_does_not_exist(
    command: list[str], fresh_schema: str, tmp_path: Path
) -> None:
    url = f"{SERVER}?schema={fresh_schema}"
    said = one_line_error(smsledger(*command, "--store", url, cwd=tmp_path))
    assert fresh_schema in said
    assert "does not exist" in said
    assert not schema_exists(fresh_schema)


@pytest.mark.postgres
def test_a_read_only_command_refuses_a_schema_without_a_ledger(
    fresh_schema: str, tmp_path: Path
) -> None:
    admin = admin_connection()
    admin.execute(f"CREATE SCHEMA {fresh_schema}")
    admin.close()
    said = one_line_error(smsledger("query", "balances", "--store",
                                    f"{SERVER}?schema={fresh_schema}", cwd=tmp_path))
    assert "holds no ledger" in said


@pytest.mark.postgres
@pytest.mark.parametrize("schema", ["public", "information_schema", "pg_catalog", "pg_toast"])
def test_postgresql_system_and_public_schemas_are_refused(schema: str, tmp_path: Path) -> None:
    said = one_line_error(smsledger("ingest", "-", "--store", f"{SERVER}?schema={schema}",
                                    cwd=tmp_path, stdin=TICK))
    assert schema in said


@pytest.mark.postgres
def test_the_public_schema_is_opened_when_asked_for_by_its_flag(tmp_path: Path) -> None:
    # Read-only, so nothing is created in the server's public schema: the store is opened
    # (a ledger there is queried, none there is "holds no ledger"), not refused.
    done = smsledger("query", "balances", "--json", "--allow-public-schema", "--store",
                     f"{SERVER}?schema=public", cwd=tmp_path)
    said = done.stderr.decode()
    assert "--allow-public-schema" not in said
    assert done.returncode == 0 or "holds no ledger" in said, said


@pytest.mark.postgres
def test_a_url_without_a_schema_says_which_schema_it_uses(tmp_path: Path) -> None:
    done = smsledger("query", "balances", "--store", SERVER, cwd=tmp_path)
    assert "schema smsledger" in done.stderr.decode()


@pytest.mark.postgres
def test_a_writer_creates_the_schema_and_readers_then_open_it(
    fresh_schema: str, tmp_path: Path
) -> None:
    url = f"{SERVER}?schema={fresh_schema}"
    assert smsledger("ingest", "-", "--store", url, cwd=tmp_path, stdin=TICK).returncode == 0
    done = smsledger("query", "balances", "--json", "--store", url, cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.strip() == b"[]"


# --- a missing extra ----------------------------------------------------------------------

BLOCKER = '''
import sys

class _NoPsycopg:
    """Behaves as an environment where the postgres extra was not installed."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("psycopg", "psycopg_pool", "psycopg_binary"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _NoPsycopg())
'''


def test_a_postgresql_store_without_the_postgres_extra_names_the_extra(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCKER)
    env = user_env(PYTHONPATH=f"{site}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    probe = subprocess.run([sys.executable, "-c", "import psycopg"], env=env,
                           capture_output=True, timeout=60)
    assert probe.returncode == 1
    assert b"No module named 'psycopg'" in probe.stderr
    for args in (["query", "balances"], ["ingest", "-"]):
        said = one_line_error(smsledger(*args, "--store", f"{SERVER}?schema=s", cwd=tmp_path,
                                        env=env))
        assert "smsledger[postgres]" in said
        assert "Traceback" not in said
