"""Store selection from a URL: `sqlite:///path.db` or `postgresql://user@host:port/db`."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from eventsourcing.utils import get_topic

from smsledger.infra.stores.application import EventStore, LedgerApplication
from smsledger.infra.stores.sqlite import SQLiteLedgerFactory, SQLiteLedgerRecorder
from smsledger.infra.stores.sqlite_database import SQLiteDatabase
from smsledger.infra.stores.urls import (
    POSTGRES_PREFIXES,
    SQLITE_PREFIX,
    PostgresTarget,
    StoreError,
    masked,
)

__all__ = ["OpenStore", "StoreError", "masked", "open_store", "postgres_target"]

# The events table of each store (the library names it; a store without it holds no ledger).
SQLITE_EVENTS_TABLE = "stored_events"
POSTGRES_EVENTS_TABLE = f"{LedgerApplication.name}_events"
WRITERS = "ingest, consume or demo create one"


@dataclass
class OpenStore:
    app: LedgerApplication
    store: EventStore
    database: Any
    url: str

    @property
    def recorder(self) -> Any:
        return self.app.recorder

    @property
    def mapper(self) -> Any:
        return self.app.mapper

    def close(self) -> None:
        self.app.close()


def open_store(url: str, *, create: bool = True) -> OpenStore:
    """Build the application on the store named by `url`. With `create` (writers) a missing
    store and its tables are created, a new SQLite file readable by its owner only; without,
    a store that holds no ledger is refused and nothing is created."""
    if url.startswith(SQLITE_PREFIX):
        env = sqlite_env(url, create=create)
    elif url.startswith(POSTGRES_PREFIXES):
        env = postgres_env(url, create=create)
    else:
        raise StoreError(
            f"unsupported store URL {masked(url)}: use sqlite:///path.db or "
            "postgresql://user@host/db?schema=NAME"
        )
    try:
        app = LedgerApplication(env=env)
    except Exception as error:  # library errors differ per backend; name the store
        raise StoreError(f"cannot open store {masked(url)}: {error}") from None
    if env["PERSISTENCE_MODULE"] == get_topic(SQLiteLedgerFactory):
        database: Any = SQLiteDatabase(app.factory.datastore)  # type: ignore[attr-defined]
    else:
        from smsledger.infra.stores.postgres_database import PostgresDatabase

        database = PostgresDatabase(app.factory.datastore)  # type: ignore[attr-defined]
    return OpenStore(app, EventStore(app, database), database, url)


def sqlite_env(url: str, *, create: bool = True) -> dict[str, str]:
    path = url[len(SQLITE_PREFIX):]
    if not path:
        raise StoreError(f"no file in store URL {url!r}; use sqlite:///path/to/file.db")
    if not _in_memory(path):
        file = Path(path.removeprefix("file:").split("?", 1)[0]).expanduser()
        if not file.resolve().parent.is_dir():
            raise StoreError(f"directory {file.resolve().parent} does not exist for store {url!r}")
        if create:
            _create_private(file)
        else:
            _require_sqlite_ledger(url, file)
    return {
        "PERSISTENCE_MODULE": get_topic(SQLiteLedgerFactory),
        "SQLITE_DBNAME": path,
        "SQLITE_LOCK_TIMEOUT": "30",
        "APPLICATION_RECORDER_TOPIC": get_topic(SQLiteLedgerRecorder),
    }


def _in_memory(path: str) -> bool:
    return path == ":memory:" or (path.startswith("file:") and "mode=memory" in path)


def _create_private(file: Path) -> None:
    """An empty file, mode 0600, for SQLite to make a database of: its journal, WAL and
    shared-memory files take the database file's permissions."""
    try:
        os.close(os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass  # an existing store keeps the permissions its owner gave it
    except OSError as error:
        raise StoreError(f"cannot create store {file}: {error.strerror}") from None


def _require_sqlite_ledger(url: str, file: Path) -> None:
    if not file.is_file():
        raise StoreError(f"no ledger at {url}: the file does not exist ({WRITERS})")
    try:
        with sqlite3.connect(f"file:{quote(str(file))}?mode=ro", uri=True) as db:
            found = db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                (SQLITE_EVENTS_TABLE,),
            ).fetchone()
        db.close()
    except sqlite3.DatabaseError as error:
        raise StoreError(f"store {url} is not a SQLite database ({error})") from None
    if found is None:
        raise StoreError(f"store {url} holds no ledger (no {SQLITE_EVENTS_TABLE} table; "
                         f"{WRITERS})")


def postgres_env(url: str, *, create: bool = True) -> dict[str, str]:
    """The library's settings for the URL's server and schema, with its other libpq
    parameters for every connection; the server is asked once first, so that it fails fast
    with one line (and, without `create`, a schema that holds no ledger is refused)."""
    require_postgres_extra()
    from smsledger.infra.stores.postgres_server import connection_env, probe

    target = postgres_target(url)
    probe(url, target, create=create, events_table=POSTGRES_EVENTS_TABLE, writers=WRITERS)
    return connection_env(target)


def require_postgres_extra() -> None:
    """A one-line StoreError naming the extra if the PostgreSQL driver is not installed."""
    try:
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ModuleNotFoundError as error:
        raise StoreError(
            f"a PostgreSQL store needs the postgres extra, which is not installed (no module "
            f"{error.name}): pip install 'smsledger[postgres]'"
        ) from None


def postgres_target(url: str) -> PostgresTarget:
    """What a PostgreSQL store URL names, its parameters checked against the installed
    libpq; a StoreError if the postgres extra is not installed or the URL is wrong."""
    require_postgres_extra()
    from smsledger.infra.stores.postgres_server import postgres_target as parse

    return parse(url)
