"""The read models' SQL tables, the same on SQLite and PostgreSQL.

Columns are declared with a logical kind, mapped per dialect (`COLUMN_TYPES`): a time is
`timestamptz` in PostgreSQL and fixed-width RFC 3339 UTC text in SQLite (sorts and compares
as text), a flag is `boolean` in PostgreSQL and 0/1 in SQLite, a list is `jsonb` in
PostgreSQL and a JSON array in SQLite (`json_each` reads it). `columns.py` converts values
between the folds' form and each dialect's."""

from __future__ import annotations

_SERIES_COLUMNS = (
    ("period", "TEXT"), ("provider", "TEXT"), ("service", "TEXT"), ("country", "TEXT"),
    ("orders", "BIGINT"), ("rejected", "BIGINT"), ("issued", "BIGINT"),
    ("sms_received", "BIGINT"), ("median_seconds_to_sms", "DOUBLE PRECISION"),
    ("timed_out", "BIGINT"), ("cancelled", "BIGINT"), ("refunded", "BIGINT"),
    ("released", "BIGINT"), ("revenue", "BIGINT"),
)
_SERIES_KEY = ("period", "provider", "service", "country")

# The layout of these tables; a store whose read models have another is refolded (runner).
LAYOUT = 2

# Logical kind -> column type, per dialect.
COLUMN_TYPES = {
    "sqlite": {"TEXT": "TEXT", "BIGINT": "BIGINT", "DOUBLE PRECISION": "DOUBLE PRECISION",
               "TIME": "TEXT", "BOOL": "INTEGER", "JSON": "TEXT"},
    "postgres": {"TEXT": "TEXT", "BIGINT": "BIGINT", "DOUBLE PRECISION": "DOUBLE PRECISION",
                 "TIME": "TIMESTAMPTZ", "BOOL": "BOOLEAN", "JSON": "JSONB"},
}

# (table, columns, primary key); each column's kind is one of COLUMN_TYPES' keys.
TABLES: dict[str, tuple[tuple[tuple[str, str], ...], tuple[str, ...]]] = {
    "balances": (
        (
            ("id", "TEXT"), ("account", "TEXT"), ("currency", "TEXT"), ("eu_consumer", "BOOL"),
            ("status", "TEXT"), ("deposited", "BIGINT"), ("available", "BIGINT"),
            ("held", "BIGINT"), ("spent", "BIGINT"), ("refund_pending", "BIGINT"),
            ("refunded_out", "BIGINT"), ("forfeited", "BIGINT"),
            ("completed_purchase_seq", "BIGINT"), ("last_accepted_seq", "BIGINT"),
            ("waiver_at", "TIME"), ("waiver_trigger", "TEXT"), ("stale", "BOOL"),
        ),
        ("id",),
    ),
    "orders": (
        (
            ("id", "TEXT"), ("order", "TEXT"), ("account", "TEXT"), ("state", "TEXT"),
            ("service", "TEXT"), ("country", "TEXT"), ("provider", "TEXT"),
            ("currency", "TEXT"), ("price", "BIGINT"),
            ("issued_price", "BIGINT"), ("charged", "BIGINT"), ("released", "BIGINT"),
            ("reason", "TEXT"), ("requested_at", "TIME"), ("issued_at", "TIME"),
            ("first_sms_at", "TIME"), ("seconds_to_sms", "DOUBLE PRECISION"),
            ("sms_count", "BIGINT"), ("closed_at", "TIME"), ("deadline", "TIME"),
            ("policy", "TEXT"),
        ),
        ("id",),
    ),
    "deposits": (
        (
            ("account_id", "TEXT"), ("deposit", "TEXT"), ("account", "TEXT"), ("method", "TEXT"),
            ("amount", "BIGINT"), ("at", "TIME"), ("seq", "BIGINT"), ("refunded", "BIGINT"),
            ("refundable", "BIGINT"), ("blocked_by", "JSON"),
        ),
        ("account_id", "deposit"),
    ),
    "refunds": (
        (
            ("id", "TEXT"), ("request", "TEXT"), ("account", "TEXT"), ("status", "TEXT"),
            ("reason", "TEXT"), ("currency", "TEXT"), ("requested", "BIGINT"),
            ("amount", "BIGINT"), ("fee", "BIGINT"),
            ("rules", "JSON"), ("policy", "TEXT"), ("requested_at", "TIME"),
            ("details_due", "TIME"), ("review_due", "TIME"), ("payout_due", "TIME"),
            ("paid_at", "TIME"), ("overdue", "BOOL"), ("route", "TEXT"),
        ),
        ("id",),
    ),
    "provider_stats": (
        (
            ("provider", "TEXT"), ("service", "TEXT"), ("country", "TEXT"), ("orders", "BIGINT"),
            ("with_sms", "BIGINT"), ("sms_rate", "DOUBLE PRECISION"),
            ("median_seconds_to_sms", "DOUBLE PRECISION"), ("refunded", "BIGINT"),
            ("refund_rate", "DOUBLE PRECISION"), ("revenue", "BIGINT"), ("stale", "BOOL"),
        ),
        ("provider", "service", "country"),
    ),
    # The time series (series_folds.py, series_derived.py): orders by the hour and the day
    # they were requested, the periods whose orders changed since they were summed, and
    # the money flows of each day.
    "orders_hourly": (_SERIES_COLUMNS, _SERIES_KEY),
    "orders_daily": (_SERIES_COLUMNS, _SERIES_KEY),
    "series_stale": ((("series", "TEXT"), ("period", "TEXT")), ("series", "period")),
    "money_daily": (
        (
            ("day", "TEXT"), ("flow", "TEXT"), ("kind", "TEXT"), ("count", "BIGINT"),
            ("amount", "BIGINT"), ("fee", "BIGINT"),
        ),
        ("day", "flow", "kind"),
    ),
}

TRACKING_TABLE = (
    "CREATE TABLE IF NOT EXISTS projection_tracking ("
    "name TEXT PRIMARY KEY, position BIGINT NOT NULL)"
)

# The policy version (`policy@version`) the clock-dependent columns were last derived under,
# at which ledger clock (`iso` text) and tracking position: a catch-up that finds all three
# unchanged has nothing to derive.
DERIVED_UNDER_TABLE = (
    "CREATE TABLE IF NOT EXISTS derived_under (name TEXT PRIMARY KEY, policy TEXT NOT NULL,"
    " clock TEXT, position BIGINT)"
)

INDEXES = (
    "CREATE INDEX IF NOT EXISTS orders_by_group"
    " ON orders (provider, service, country, seconds_to_sms)",
    # Every per-account view (`query ... --account`), and the time columns analysts group by.
    "CREATE INDEX IF NOT EXISTS orders_by_account ON orders (account)",
    "CREATE INDEX IF NOT EXISTS balances_by_account ON balances (account)",
    "CREATE INDEX IF NOT EXISTS deposits_by_account ON deposits (account, at)",
    "CREATE INDEX IF NOT EXISTS refunds_by_account ON refunds (account)",
    "CREATE INDEX IF NOT EXISTS deposits_by_time ON deposits (at)",
    "CREATE INDEX IF NOT EXISTS orders_by_close_time ON orders (closed_at)",
    "CREATE INDEX IF NOT EXISTS refunds_by_paid_time ON refunds (paid_at)",
    "CREATE INDEX IF NOT EXISTS balances_stale ON balances (stale)",
    "CREATE INDEX IF NOT EXISTS stats_stale ON provider_stats (stale)",
    "CREATE INDEX IF NOT EXISTS refunds_by_status ON refunds (status)",
    # The time series: --since/--until and the medians read orders by their request time.
    "CREATE INDEX IF NOT EXISTS orders_by_request_time ON orders (requested_at)",
    "CREATE INDEX IF NOT EXISTS refunds_by_request_time ON refunds (requested_at)",
)


LAYOUT_TABLE = (
    "CREATE TABLE IF NOT EXISTS read_model_layout (id INTEGER PRIMARY KEY, version BIGINT NOT NULL)"
)


def relation_names() -> list[str]:
    """Every table and index `create_statements` makes."""
    return ["projection_tracking", "derived_under", "read_model_layout", *TABLES,
            *index_names()]


def quoted(name: str) -> str:
    """A column name as SQL: quoted, since some (`order`) are reserved words."""
    return f'"{name}"'


def column_list(table: str) -> str:
    return ", ".join(quoted(name) for name in columns_of(table))


def index_names() -> list[str]:
    return [statement.split(" IF NOT EXISTS ")[1].split()[0] for statement in INDEXES]


def create_statements(dialect: str = "sqlite") -> list[str]:
    types = COLUMN_TYPES[dialect]
    statements = [TRACKING_TABLE, DERIVED_UNDER_TABLE, LAYOUT_TABLE]
    for table, (columns, key) in TABLES.items():
        cols = ", ".join(f"{quoted(name)} {types[kind]}" for name, kind in columns)
        statements.append(f"CREATE TABLE IF NOT EXISTS {table} ({cols},"
                          f" PRIMARY KEY ({', '.join(map(quoted, key))}))")
    statements.extend(INDEXES)
    return statements


def kinds_of(table: str) -> tuple[str, ...]:
    return tuple(kind for _, kind in TABLES[table][0])


def columns_of(table: str) -> tuple[str, ...]:
    return tuple(name for name, _ in TABLES[table][0])


def upsert_statement(table: str) -> str:
    columns, key = TABLES[table]
    names = [quoted(name) for name, _ in columns]
    updates = ", ".join(f"{n} = excluded.{n}" for n in names if n.strip('"') not in key)
    return (
        f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
        f" ON CONFLICT ({', '.join(map(quoted, key))}) DO "
        + (f"UPDATE SET {updates}" if updates else "NOTHING")
    )


def select_all_statement(table: str) -> str:
    """Every column of every row of `table`, in key order."""
    key = ", ".join(map(quoted, TABLES[table][1]))
    return f"SELECT {column_list(table)} FROM {table} ORDER BY {key}"
