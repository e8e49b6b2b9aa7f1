"""Store selection from a URL: `sqlite:///path.db` or `postgresql://user@host:port/db`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from eventsourcing.utils import get_topic

from smsledger.infra.stores.application import EventStore, LedgerApplication
from smsledger.infra.stores.sqlite import SQLiteLedgerFactory, SQLiteLedgerRecorder
from smsledger.infra.stores.sqlite_database import SQLiteDatabase


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
        "PERSISTENCE_MODULE": get_topic(SQLiteLedgerFactory),
        "SQLITE_DBNAME": path,
        "SQLITE_LOCK_TIMEOUT": "30",
        "APPLICATION_RECORDER_TOPIC": get_topic(SQLiteLedgerRecorder),
    }


_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def postgres_env(url: str) -> dict[str, str]:
    parsed = urlparse(url)
    schema = parse_qs(parsed.query).get("schema", [""])[0]
    if schema and not _SCHEMA_NAME.fullmatch(schema):
        raise StoreError(
            f"invalid schema {schema!r} in store URL: use lower-case letters, digits and _"
        )
    from smsledger.infra.stores.postgres import postgres_recorder_topic

    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": unquote(parsed.path.lstrip("/")) or "postgres",
        "POSTGRES_HOST": parsed.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(parsed.port or 5432),
        "POSTGRES_USER": unquote(parsed.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(parsed.password or ""),
        "POSTGRES_SCHEMA": schema,
        "POSTGRES_CONNECT_TIMEOUT": "5",
        # The library's default (5 s) would end a projection batch that folds for longer.
        "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "60",
        "APPLICATION_RECORDER_TOPIC": postgres_recorder_topic(),
    }


def check_postgres(env: dict[str, str]) -> None:
    """Connect once, so that an unreachable server fails fast with a one-line message
    (the pool would wait its whole timeout, then name no server)."""
    import psycopg

    where = f"{env['POSTGRES_HOST']}:{env['POSTGRES_PORT']}/{env['POSTGRES_DBNAME']}"
    try:
        psycopg.connect(
            dbname=env["POSTGRES_DBNAME"], host=env["POSTGRES_HOST"],
            port=env["POSTGRES_PORT"], user=env["POSTGRES_USER"],
            password=env["POSTGRES_PASSWORD"],
            connect_timeout=int(env["POSTGRES_CONNECT_TIMEOUT"]),
        ).close()
    except psycopg.Error as error:
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        reason = lines[0] if lines else type(error).__name__
        # "connection failed: connection to server at ..., port N failed: <the reason>"
        reason = reason.rsplit(" failed: ", 1)[-1].removeprefix("FATAL:").strip()
        raise StoreError(
            f"cannot connect to PostgreSQL at {env['POSTGRES_USER']}@{where}: {reason}"
        ) from None


def _shown(url: str) -> str:
    """The URL without its password, for messages."""
    parsed = urlparse(url)
    if parsed.password is None:
        return url
    return parsed._replace(netloc=parsed.netloc.replace(f":{parsed.password}@", ":***@")).geturl()


def open_store(url: str) -> OpenStore:
    """Build the application on the store named by `url`; tables are created if missing."""
    if url.startswith("sqlite:///"):
        env = sqlite_env(url)
    elif url.startswith(("postgresql://", "postgres://")):
        env = postgres_env(url)
        check_postgres(env)
    else:
        raise StoreError(
            f"unsupported store URL {url!r}: use sqlite:///path.db or postgresql://user@host/db"
        )
    try:
        app = LedgerApplication(env=env)
    except Exception as error:  # library errors differ per backend; name the store
        raise StoreError(f"cannot open store {_shown(url)}: {error}") from None
    if env["PERSISTENCE_MODULE"] == get_topic(SQLiteLedgerFactory):
        database: Any = SQLiteDatabase(app.factory.datastore)  # type: ignore[attr-defined]
    else:
        from smsledger.infra.stores.postgres import PostgresDatabase

        database = PostgresDatabase(app.factory.datastore)  # type: ignore[attr-defined]
    return OpenStore(app, EventStore(app, database), database, url)
