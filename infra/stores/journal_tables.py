"""The message journal's tables, the same on SQLite and PostgreSQL, declared like the read
models (`projections/tables.py`): column names are the CLI's field names (`message`,
`partition`, `offset`), a time is `timestamptz` in PostgreSQL and the read models'
fixed-width `…Z` text in SQLite, a list is `jsonb` in PostgreSQL and a JSON array in SQLite."""

from __future__ import annotations

from smsledger.projections.tables import quoted

# The layout of these tables (`journal_layout`); a store of an older one is migrated on open
# (`journal_migration.py`). Layout 1: `message_id`, `partition_no`, `offset_no`, times as
# RFC 3339 text of several forms, rejection rules comma-separated.
JOURNAL_LAYOUT = 2

# Logical kind -> column type, per dialect; `SERIAL` is the table's key, in insertion order.
JOURNAL_TYPES = {
    "sqlite": {"TEXT": "TEXT", "INTEGER": "INTEGER", "BIGINT": "BIGINT", "TIME": "TEXT",
               "JSON": "TEXT", "BLOB": "BLOB", "SERIAL": "INTEGER PRIMARY KEY AUTOINCREMENT"},
    "postgres": {"TEXT": "TEXT", "INTEGER": "INTEGER", "BIGINT": "BIGINT",
                 "TIME": "TIMESTAMPTZ", "JSON": "JSONB", "BLOB": "BYTEA",
                 "SERIAL": "BIGSERIAL PRIMARY KEY"},
}
# Each kind as PostgreSQL's catalog (information_schema.columns.data_type) names it.
CATALOG_TYPES = {"TEXT": "text", "INTEGER": "integer", "BIGINT": "bigint",
                 "TIME": "timestamp with time zone", "JSON": "jsonb", "BLOB": "bytea",
                 "SERIAL": "bigint"}

_KEY, _NN = "PRIMARY KEY", "NOT NULL"
# table -> ((column, kind, constraint), ...), table constraint. Positional INSERTs rely on
# this order, which is every layout's (a migration renames and retypes in place).
JOURNAL: dict[str, tuple[tuple[tuple[str, str, str], ...], str]] = {
    "processed_messages": ((
        ("message", "TEXT", _KEY), ("type", "TEXT", _NN), ("outcome", "TEXT", _NN),
        ("reason", "TEXT", ""), ("digest", "TEXT", "")), ""),
    "rejections": ((
        ("message", "TEXT", _KEY), ("type", "TEXT", _NN), ("at", "TIME", _NN),
        ("account", "TEXT", ""), ("subject", "TEXT", ""), ("reason", "TEXT", _NN),
        ("detail", "TEXT", _NN), ("rules", "JSON", _NN)), ""),
    "dead_letters": ((
        ("seq", "SERIAL", ""), ("message", "TEXT", ""), ("reason", "TEXT", _NN),
        ("detail", "TEXT", _NN), ("source", "TEXT", _NN), ("partition", "INTEGER", ""),
        ("offset", "BIGINT", ""), ("raw", "BLOB", _NN), ("fingerprint", "TEXT", "UNIQUE")), ""),
    "parked_messages": ((
        ("message", "TEXT", _KEY), ("kind", "TEXT", _NN), ("subject", "TEXT", _NN),
        ("at", "TIME", _NN), ("source", "TEXT", _NN), ("partition", "INTEGER", ""),
        ("offset", "BIGINT", ""), ("raw", "BLOB", _NN)), ""),
    "deadlines": ((
        ("aggregate_id", "TEXT", _KEY), ("kind", "TEXT", _NN), ("due", "TIME", _NN),
        ("account", "TEXT", _NN)), ""),
    "consumer_offsets": ((
        ("consumer_group", "TEXT", _NN), ("topic", "TEXT", _NN), ("partition", "INTEGER", _NN),
        ("next_offset", "BIGINT", _NN)), 'PRIMARY KEY (consumer_group, topic, "partition")'),
    "ledger_clock": ((
        ("id", "INTEGER", _KEY), ("watermark", "TIME", _NN), ("policy", "TEXT", _NN)), ""),
    # Each partition's time (-1: a single writer's): its clock (latest clock.tick, or the
    # wall clock it followed once caught up) and the latest event time processed on it.
    "partition_clocks": ((
        ("consumer_group", "TEXT", _NN), ("partition", "INTEGER", _NN), ("clock", "TIME", ""),
        ("latest", "TIME", "")), 'PRIMARY KEY (consumer_group, "partition")'),
    # Messages applied more than the allowed lateness behind their partition's clock.
    "late_messages": ((
        ("message", "TEXT", _KEY), ("at", "TIME", _NN), ("clock", "TIME", _NN),
        ("source", "TEXT", _NN), ("partition", "INTEGER", ""), ("offset", "BIGINT", "")), ""),
    # The policy versions decisions used: the file each was read from, as it was then.
    "policy_versions": ((
        ("ref", "TEXT", _KEY), ("name", "TEXT", _NN), ("version", "TEXT", _NN),
        ("effective_from", "TIME", _NN), ("digest", "TEXT", _NN), ("content", "TEXT", _NN),
        ("first_at", "TIME", _NN), ("last_at", "TIME", _NN)), ""),
    "policy_dir": ((("id", "INTEGER", _KEY), ("path", "TEXT", _NN)), ""),
    # Every inbound line that was not a duplicate, in the order processed (`lines` of them
    # a row, see `journal.log_rows`), and the points where the clock moved without a
    # message or an input ended: what a replay needs.
    "inbound_log": ((
        ("seq", "SERIAL", ""), ("kind", "TEXT", _NN), ("at", "TIME", ""),
        ("lines", "INTEGER", _NN), ("raw", "BLOB", "")), ""),
    "journal_layout": ((("id", "INTEGER", _KEY), ("version", "BIGINT", _NN)), ""),
}

JOURNAL_INDEXES = (
    # `query rejections --account`, in the view's order; `--since` and analysts by time.
    "CREATE INDEX IF NOT EXISTS rejections_by_account ON rejections (account, at)",
    "CREATE INDEX IF NOT EXISTS rejections_by_time ON rejections (at)",
    "CREATE INDEX IF NOT EXISTS dead_letters_by_message ON dead_letters (message)",
)


def journal_ddl(dialect: str) -> list[str]:
    """CREATE TABLE / INDEX IF NOT EXISTS for every journal table, in `dialect`."""
    types = JOURNAL_TYPES[dialect]
    statements = []
    for table, (columns, constraint) in JOURNAL.items():
        parts = [" ".join(filter(None, (quoted(name), types[kind], extra)))
                 for name, kind, extra in columns]
        statements.append(f"CREATE TABLE IF NOT EXISTS {table} ("
                          f"{', '.join(parts + ([constraint] if constraint else []))})")
    return [*statements, *JOURNAL_INDEXES]


def kinds(table: str) -> tuple[str, ...]:
    return tuple(kind for _, kind, _ in JOURNAL[table][0])


def time_columns() -> list[tuple[str, str]]:
    """(table, column) of every journal time."""
    return [(table, name) for table, (columns, _) in JOURNAL.items()
            for name, kind, _ in columns if kind == "TIME"]


def catalog_columns() -> dict[tuple[str, str], str]:
    """(table, column) -> PostgreSQL's catalog type, of every journal column."""
    return {(table, name): CATALOG_TYPES[kind] for table, (columns, _) in JOURNAL.items()
            for name, kind, _ in columns}
