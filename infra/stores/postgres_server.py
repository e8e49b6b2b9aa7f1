"""Connecting to the PostgreSQL server of a store URL: every libpq parameter of the URL on
every connection, a first connection that fails fast with one line, and whether the schema
holds a ledger. Imported only once the postgres extra is known to be installed."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import orjson
import psycopg
from eventsourcing.postgres import PostgresFactory
from eventsourcing.utils import get_topic

from smsledger.infra.stores import urls
from smsledger.infra.stores.postgres import postgres_recorder_topic
from smsledger.infra.stores.urls import PostgresTarget, StoreError, masked

DEFAULT_CONNECT_TIMEOUT = "5"
# The library's settings have no place for libpq's other keywords: they travel as JSON.
LIBPQ_PARAMS = "POSTGRES_LIBPQ_PARAMS"


@lru_cache(maxsize=1)
def libpq_keywords() -> frozenset[str]:
    """Every connection keyword the installed libpq accepts."""
    return frozenset(option.keyword.decode() for option in psycopg.pq.Conninfo.get_defaults())


def postgres_target(url: str) -> PostgresTarget:
    return urls.postgres_target(url, libpq_keywords())


class PostgresLedgerFactory(PostgresFactory):
    """The library's factory; its connections also get the URL's other libpq parameters."""

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        params = orjson.loads(self.env.get(LIBPQ_PARAMS) or "{}")
        pool = self.datastore.pool
        kwargs = pool.kwargs if isinstance(pool.kwargs, dict) else {}  # the library's dict
        pool.kwargs = {**kwargs, **params}


def connection_env(target: PostgresTarget) -> dict[str, str]:
    """The library's settings for the target (its pool waits `connect_timeout` too)."""
    return {
        "PERSISTENCE_MODULE": get_topic(PostgresLedgerFactory),
        "POSTGRES_DBNAME": target.dbname,
        "POSTGRES_HOST": target.host,
        "POSTGRES_PORT": str(target.port),
        "POSTGRES_USER": target.user,
        "POSTGRES_PASSWORD": target.password,
        "POSTGRES_SCHEMA": target.schema,
        "POSTGRES_CONNECT_TIMEOUT": target.params.get("connect_timeout")
        or DEFAULT_CONNECT_TIMEOUT,
        # The library's default (5 s) would end a projection batch that folds for longer.
        "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "60",
        "APPLICATION_RECORDER_TOPIC": postgres_recorder_topic(),
        LIBPQ_PARAMS: orjson.dumps(target.params).decode(),
    }


def probe(url: str, target: PostgresTarget, *, create: bool, events_table: str,
          writers: str) -> None:
    """Connect once with the URL's parameters, so that an unreachable or refusing server
    fails fast with a one-line message (the pool would wait its whole timeout, then name no
    server). Without `create`, refuse a schema that holds no ledger."""
    try:
        with psycopg.connect(**{"connect_timeout": DEFAULT_CONNECT_TIMEOUT,
                                **target.connect_kwargs()}) as connection:
            if not create:
                _require_ledger(connection, url, target, events_table, writers)
    except psycopg.Error as error:
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        reason = lines[0] if lines else type(error).__name__
        # "connection failed: connection to server at ..., port N failed: <the reason>"
        reason = reason.rsplit(" failed: ", 1)[-1].removeprefix("FATAL:").strip()
        raise StoreError(
            f"cannot connect to PostgreSQL at {target.where}: {reason}"
        ) from None


def _require_ledger(connection: psycopg.Connection[Any], url: str, target: PostgresTarget,
                    events_table: str, writers: str) -> None:
    schema = target.schema
    found = connection.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s",
                               (schema,)).fetchone()
    if found is None:
        raise StoreError(f"no ledger at {masked(url)}: schema {schema} does not exist in "
                         f"database {target.dbname} ({writers})")
    table = connection.execute("SELECT to_regclass(format('%%I.%%I', %s::text, %s::text))",
                               (schema, events_table)).fetchone()
    if table is None or table[0] is None:
        raise StoreError(f"store {masked(url)} holds no ledger: schema {schema} has no "
                         f"{events_table} table ({writers})")
