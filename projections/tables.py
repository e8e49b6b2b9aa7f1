"""The read models' SQL tables, portable between SQLite and PostgreSQL."""

from __future__ import annotations

_SERIES_COLUMNS = (
    ("period", "TEXT"), ("provider", "TEXT"), ("service", "TEXT"), ("country", "TEXT"),
    ("orders", "BIGINT"), ("rejected", "BIGINT"), ("issued", "BIGINT"),
    ("sms_received", "BIGINT"), ("median_seconds_to_sms", "DOUBLE PRECISION"),
    ("timed_out", "BIGINT"), ("cancelled", "BIGINT"), ("refunded", "BIGINT"),
    ("released", "BIGINT"), ("revenue", "BIGINT"),
)
_SERIES_KEY = ("period", "provider", "service", "country")

# (table, columns, primary key). Every column is TEXT, BIGINT or DOUBLE PRECISION.
TABLES: dict[str, tuple[tuple[tuple[str, str], ...], tuple[str, ...]]] = {
    "balances": (
        (
            ("id", "TEXT"), ("account", "TEXT"), ("currency", "TEXT"), ("eu_consumer", "BIGINT"),
            ("status", "TEXT"), ("deposited", "BIGINT"), ("available", "BIGINT"),
            ("held", "BIGINT"), ("spent", "BIGINT"), ("refund_pending", "BIGINT"),
            ("refunded_out", "BIGINT"), ("forfeited", "BIGINT"),
            ("completed_purchase_seq", "BIGINT"), ("last_accepted_seq", "BIGINT"),
            ("waiver_at", "TEXT"), ("waiver_trigger", "TEXT"), ("stale", "BIGINT"),
        ),
        ("id",),
    ),
    "orders": (
        (
            ("id", "TEXT"), ("order_ref", "TEXT"), ("account", "TEXT"), ("state", "TEXT"),
            ("service", "TEXT"), ("country", "TEXT"), ("provider", "TEXT"), ("price", "BIGINT"),
            ("issued_price", "BIGINT"), ("charged", "BIGINT"), ("released", "BIGINT"),
            ("reason", "TEXT"), ("requested_at", "TEXT"), ("issued_at", "TEXT"),
            ("first_sms_at", "TEXT"), ("seconds_to_sms", "DOUBLE PRECISION"),
            ("sms_count", "BIGINT"), ("closed_at", "TEXT"), ("deadline", "TEXT"),
            ("policy", "TEXT"),
        ),
        ("id",),
    ),
    "deposits": (
        (
            ("account_id", "TEXT"), ("deposit", "TEXT"), ("account", "TEXT"), ("method", "TEXT"),
            ("amount", "BIGINT"), ("at", "TEXT"), ("seq", "BIGINT"), ("refunded", "BIGINT"),
            ("refundable", "BIGINT"), ("blocked_by", "TEXT"),
        ),
        ("account_id", "deposit"),
    ),
    "refunds": (
        (
            ("id", "TEXT"), ("request", "TEXT"), ("account", "TEXT"), ("status", "TEXT"),
            ("reason", "TEXT"), ("requested", "BIGINT"), ("amount", "BIGINT"), ("fee", "BIGINT"),
            ("rules", "TEXT"), ("policy", "TEXT"), ("requested_at", "TEXT"),
            ("details_due", "TEXT"), ("review_due", "TEXT"), ("payout_due", "TEXT"),
            ("paid_at", "TEXT"), ("overdue", "BIGINT"), ("route", "TEXT"),
        ),
        ("id",),
    ),
    "provider_stats": (
        (
            ("provider", "TEXT"), ("service", "TEXT"), ("country", "TEXT"), ("orders", "BIGINT"),
            ("with_sms", "BIGINT"), ("sms_rate", "DOUBLE PRECISION"),
            ("median_seconds_to_sms", "DOUBLE PRECISION"), ("refunded", "BIGINT"),
            ("refund_rate", "DOUBLE PRECISION"), ("revenue", "BIGINT"), ("stale", "BIGINT"),
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

# The policy version (`policy@version`) the clock-dependent columns were last derived under.
DERIVED_UNDER_TABLE = (
    "CREATE TABLE IF NOT EXISTS derived_under (name TEXT PRIMARY KEY, policy TEXT NOT NULL)"
)

INDEXES = (
    "CREATE INDEX IF NOT EXISTS orders_by_group"
    " ON orders (provider, service, country, seconds_to_sms)",
    "CREATE INDEX IF NOT EXISTS orders_by_account ON orders (account)",
    "CREATE INDEX IF NOT EXISTS deposits_by_time ON deposits (at)",
    "CREATE INDEX IF NOT EXISTS balances_stale ON balances (stale)",
    "CREATE INDEX IF NOT EXISTS stats_stale ON provider_stats (stale)",
    "CREATE INDEX IF NOT EXISTS refunds_by_status ON refunds (status)",
    # The time series: --since/--until and the medians read orders by their request time.
    "CREATE INDEX IF NOT EXISTS orders_by_request_time ON orders (requested_at)",
    "CREATE INDEX IF NOT EXISTS refunds_by_request_time ON refunds (requested_at)",
)


def relation_names() -> list[str]:
    """Every table and index `create_statements` makes."""
    return ["projection_tracking", "derived_under", *TABLES, *index_names()]


def index_names() -> list[str]:
    return [statement.split(" IF NOT EXISTS ")[1].split()[0] for statement in INDEXES]


def create_statements() -> list[str]:
    statements = [TRACKING_TABLE, DERIVED_UNDER_TABLE]
    for table, (columns, key) in TABLES.items():
        cols = ", ".join(f"{name} {kind}" for name, kind in columns)
        statements.append(
            f"CREATE TABLE IF NOT EXISTS {table} ({cols}, PRIMARY KEY ({', '.join(key)}))"
        )
    statements.extend(INDEXES)
    return statements


def columns_of(table: str) -> tuple[str, ...]:
    return tuple(name for name, _ in TABLES[table][0])


def upsert_statement(table: str) -> str:
    columns, key = TABLES[table]
    names = [name for name, _ in columns]
    updates = ", ".join(f"{n} = excluded.{n}" for n in names if n not in key)
    return (
        f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
        f" ON CONFLICT ({', '.join(key)}) DO " + (f"UPDATE SET {updates}" if updates else "NOTHING")
    )
