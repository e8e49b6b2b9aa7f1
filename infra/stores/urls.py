"""Store URLs: the URL as it may be shown (never its password), and what a PostgreSQL URL
names: server, database, schema and every other libpq connection parameter."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

SQLITE_PREFIX = "sqlite:///"
POSTGRES_PREFIXES = ("postgresql://", "postgres://")
# The schema of a URL that names none. Not `public`: a ledger there shares its namespace
# with whatever else the database holds (and `public` is refused unless asked for).
DEFAULT_SCHEMA = "smsledger"
PUBLIC_SCHEMA = "public"
PUBLIC_FLAG = "--allow-public-schema"

_USERINFO_PASSWORD = re.compile(r"(://[^/?#@:]*):[^/?#@]*@")
_QUERY_PASSWORD = re.compile(r"([?&](?:password|sslpassword)=)[^&#]*", re.IGNORECASE)
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
# Parts of the URL itself; the query may repeat them (libpq's rule: the query wins).
_URL_PARTS = ("host", "port", "dbname", "user", "password")


class StoreError(RuntimeError):
    """The store URL is wrong or the store cannot be reached or used; the message never
    holds a password."""


def masked(url: str) -> str:
    """The URL with any password replaced by `***`, for messages and logs."""
    return _QUERY_PASSWORD.sub(r"\1***", _USERINFO_PASSWORD.sub(r"\1:***@", url))


@dataclass(frozen=True)
class PostgresTarget:
    """What a `postgresql://` URL names. `params` are libpq keywords beyond the URL's parts
    (`sslmode`, `sslrootcert`, `connect_timeout`, `application_name`, `options`, …)."""

    host: str
    port: int
    dbname: str
    user: str
    password: str = field(repr=False)
    schema: str
    schema_given: bool
    params: dict[str, str] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{self.user}@{self.host}:{self.port}/{self.dbname}"

    def connect_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `psycopg.connect`: every libpq parameter of the URL."""
        return {"host": self.host, "port": self.port, "dbname": self.dbname, "user": self.user,
                "password": self.password, **self.params}


def postgres_target(url: str, known: frozenset[str]) -> PostgresTarget:
    """Parse a PostgreSQL URL; `known` are the libpq keywords the installed libpq accepts.
    A parameter libpq does not know is refused, never silently dropped."""
    shown = masked(url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise StoreError(f"invalid store URL {shown}: {error}") from None
    values: dict[str, str] = {
        "host": parts.hostname or "127.0.0.1", "port": str(port or 5432),
        "dbname": unquote(parts.path.lstrip("/")) or "postgres",
        "user": unquote(parts.username or "postgres"),
        "password": unquote(parts.password or ""),
    }
    params: dict[str, str] = {}
    seen: set[str] = set()
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in seen:
            raise StoreError(f"parameter {key!r} appears twice in store URL {shown}")
        seen.add(key)
        if key == "schema" or key in _URL_PARTS:
            values[key] = value
        elif key in known:
            params[key] = value
        else:
            raise StoreError(
                f"unknown connection parameter {key!r} in store URL {shown}: PostgreSQL's "
                "libpq has no such keyword (schema= and libpq's keywords are accepted)"
            )
    try:
        port_number = int(values["port"])
    except ValueError:
        raise StoreError(f"invalid port {values['port']!r} in store URL {shown}") from None
    if "connect_timeout" in params and not params["connect_timeout"].isdigit():
        raise StoreError(
            f"connect_timeout must be a whole number of seconds in store URL {shown}")
    schema = values.get("schema", "")
    return PostgresTarget(
        host=values["host"], port=port_number, dbname=values["dbname"], user=values["user"],
        password=values["password"], schema=check_schema_name(schema or DEFAULT_SCHEMA),
        schema_given=bool(schema), params=params,
    )


def check_schema_name(schema: str) -> str:
    """The schema, if a ledger may live there: PostgreSQL's own schemas never."""
    if not _SCHEMA_NAME.fullmatch(schema):
        raise StoreError(
            f"invalid schema {schema!r} in store URL: use lower-case letters, digits and _")
    if schema == "information_schema" or schema.startswith("pg_"):
        raise StoreError(
            f"schema {schema!r} belongs to PostgreSQL itself; name a schema of your own "
            "with ?schema=NAME")
    return schema


def check_public_allowed(target: PostgresTarget, allow_public: bool) -> None:
    """`public` only when asked for explicitly: it is where everything else lands."""
    if target.schema == PUBLIC_SCHEMA and not allow_public:
        raise StoreError(
            f"schema 'public' is refused: a ledger there shares the namespace of everything "
            f"else in database {target.dbname}; name a schema of its own with ?schema=NAME, "
            f"or pass {PUBLIC_FLAG}")
