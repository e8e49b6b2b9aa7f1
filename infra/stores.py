"""Store selection from a URL: `sqlite:///path.db` or `postgresql://user@host:port/db`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from eventsourcing.utils import get_topic

from .database import SQLiteDatabase
from .sqlite_store import SQLiteLedgerRecorder
from .store import EventStore, LedgerApplication


class StoreError(RuntimeError):
    """The store URL is wrong or the store cannot be reached."""


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


def sqlite_env(url: str) -> dict[str, str]:
    path = url[len("sqlite:///"):]
    if not path:
        raise StoreError(f"no file in store URL {url!r}; use sqlite:///path/to/file.db")
    if path != ":memory:":
        parent = Path(path).expanduser().resolve().parent
        if not parent.is_dir():
            raise StoreError(f"directory {parent} does not exist for store {url!r}")
    return {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": path,
        "SQLITE_LOCK_TIMEOUT": "30",
        "APPLICATION_RECORDER_TOPIC": get_topic(SQLiteLedgerRecorder),
    }


def postgres_env(url: str) -> dict[str, str]:
    parsed = urlparse(url)
    schema = parse_qs(parsed.query).get("schema", [""])[0]
    from .postgres_store import postgres_recorder_topic

    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": unquote(parsed.path.lstrip("/")) or "postgres",
        "POSTGRES_HOST": parsed.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(parsed.port or 5432),
        "POSTGRES_USER": unquote(parsed.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(parsed.password or ""),
        "POSTGRES_SCHEMA": schema,
        "POSTGRES_CONNECT_TIMEOUT": "5",
        "APPLICATION_RECORDER_TOPIC": postgres_recorder_topic(),
    }


def open_store(url: str) -> OpenStore:
    """Build the application on the store named by `url`; tables are created if missing."""
    if url.startswith("sqlite:///"):
        env = sqlite_env(url)
    elif url.startswith(("postgresql://", "postgres://")):
        env = postgres_env(url)
    else:
        raise StoreError(
            f"unsupported store URL {url!r}: use sqlite:///path.db or postgresql://user@host/db"
        )
    try:
        app = LedgerApplication(env=env)
    except Exception as error:  # library errors differ per backend; name the store
        raise StoreError(f"cannot open store {url}: {error}") from None
    if env["PERSISTENCE_MODULE"] == "eventsourcing.sqlite":
        database: Any = SQLiteDatabase(app.factory.datastore)  # type: ignore[attr-defined]
    else:
        from .postgres_store import PostgresDatabase

        database = PostgresDatabase(app.factory.datastore)  # type: ignore[attr-defined]
    return OpenStore(app, EventStore(app, database), database, url)
