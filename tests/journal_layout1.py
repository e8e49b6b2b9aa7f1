"""A journal of layout 1, as smsledger wrote it before the journal took the CLI's names and
typed times: its DDL verbatim, and the statements that turn a store's journal back into it
(rows kept, times in the text forms that layout wrote), for the migration tests."""

from __future__ import annotations

from smsledger.infra.stores.journal_tables import JOURNAL

# Layout 1's DDL, as consumers/journal.py had it; `{blob}`, `{serial}`, `{time}` per dialect.
LAYOUT1_DDL = (
    """CREATE TABLE IF NOT EXISTS processed_messages (
        message_id TEXT PRIMARY KEY, type TEXT NOT NULL, outcome TEXT NOT NULL,
        reason TEXT, digest TEXT)""",
    """CREATE TABLE IF NOT EXISTS rejections (
        message_id TEXT PRIMARY KEY, type TEXT NOT NULL, at TEXT NOT NULL, account TEXT,
        subject TEXT, reason TEXT NOT NULL, detail TEXT NOT NULL, rules TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS rejections_by_account ON rejections (account, at)",
    """CREATE TABLE IF NOT EXISTS dead_letters (
        seq {serial}, message_id TEXT, reason TEXT NOT NULL,
        detail TEXT NOT NULL, source TEXT NOT NULL, partition_no INTEGER,
        offset_no BIGINT, raw {blob} NOT NULL, fingerprint TEXT UNIQUE)""",
    "CREATE INDEX IF NOT EXISTS dead_letters_message_id ON dead_letters (message_id)",
    """CREATE TABLE IF NOT EXISTS parked_messages (
        message_id TEXT PRIMARY KEY, kind TEXT NOT NULL, subject TEXT NOT NULL,
        at TEXT NOT NULL, source TEXT NOT NULL, partition_no INTEGER, offset_no BIGINT,
        raw {blob} NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS deadlines (
        aggregate_id TEXT PRIMARY KEY, kind TEXT NOT NULL, due TEXT NOT NULL,
        account TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS consumer_offsets (
        consumer_group TEXT NOT NULL, topic TEXT NOT NULL, partition_no INTEGER NOT NULL,
        next_offset BIGINT NOT NULL, PRIMARY KEY (consumer_group, topic, partition_no))""",
    """CREATE TABLE IF NOT EXISTS ledger_clock (
        id INTEGER PRIMARY KEY, watermark {time} NOT NULL, policy TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS partition_clocks (
        consumer_group TEXT NOT NULL, partition_no INTEGER NOT NULL, clock TEXT,
        latest TEXT, PRIMARY KEY (consumer_group, partition_no))""",
    """CREATE TABLE IF NOT EXISTS late_messages (
        message_id TEXT PRIMARY KEY, at TEXT NOT NULL, clock TEXT NOT NULL,
        source TEXT NOT NULL, partition_no INTEGER, offset_no BIGINT)""",
    """CREATE TABLE IF NOT EXISTS policy_versions (
        ref TEXT PRIMARY KEY, name TEXT NOT NULL, version TEXT NOT NULL,
        effective_from TEXT NOT NULL, digest TEXT NOT NULL, content TEXT NOT NULL,
        first_at TEXT NOT NULL, last_at TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS policy_dir (id INTEGER PRIMARY KEY, path TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS inbound_log (
        seq {serial}, kind TEXT NOT NULL, at TEXT, lines INTEGER NOT NULL, raw {blob})""",
)
TYPES = {"sqlite": {"blob": "BLOB", "serial": "INTEGER PRIMARY KEY AUTOINCREMENT",
                    "time": "TEXT"},
         "postgres": {"blob": "BYTEA", "serial": "BIGSERIAL PRIMARY KEY",
                      "time": "TIMESTAMPTZ"}}

# The text form layout 1 wrote each time in: `iso` (`…:00Z` or `…:00.250000Z`), `isoformat`
# (`…:00+00:00`), `micro` (`…:00.000000+00:00`), or the ledger clock as it is now.
FORMS = {("rejections", "at"): "iso", ("late_messages", "at"): "iso",
         ("late_messages", "clock"): "iso", ("policy_versions", "first_at"): "micro",
         ("policy_versions", "last_at"): "micro", ("ledger_clock", "watermark"): "same"}
_SQLITE = {
    "iso": "CASE WHEN substr({0}, 20, 7) = '.000000' THEN substr({0}, 1, 19) || 'Z'"
           " ELSE {0} END",
    "isoformat": "CASE WHEN substr({0}, 20, 7) = '.000000' THEN substr({0}, 1, 19)"
                 " ELSE substr({0}, 1, 26) END || '+00:00'",
    "micro": "substr({0}, 1, 26) || '+00:00'", "same": "{0}",
    "rules": "COALESCE((SELECT group_concat(value, ',') FROM json_each({0})), '')",
}
_UTC = "to_char({0} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')"
_POSTGRES = {
    "iso": f"regexp_replace({_UTC}, '\\.000000$', '') || 'Z'",
    "isoformat": f"regexp_replace({_UTC}, '\\.000000$', '') || '+00:00'",
    "micro": f"{_UTC} || '+00:00'", "same": "{0}",
    "rules": "array_to_string(ARRAY(SELECT jsonb_array_elements_text({0})), ',')",
}


def downgrade_statements(dialect: str) -> list[str]:
    """Statements that turn a store's journal (this layout) into layout 1, rows kept."""
    forms = _SQLITE if dialect == "sqlite" else _POSTGRES
    tables = [t for t in JOURNAL if t != "journal_layout"]
    statements = ["DROP TABLE journal_layout"]
    for table in tables:
        statements += [f"CREATE TABLE {table}_v2 AS SELECT * FROM {table}",
                       f"DROP TABLE {table}"]
    statements += [s.format(**TYPES[dialect]) for s in LAYOUT1_DDL]
    for table in tables:
        values = []
        for name, kind, _ in JOURNAL[table][0]:
            column = f'"{name}"'
            form = "rules" if kind == "JSON" else FORMS.get((table, name), "isoformat")
            values.append(forms[form].format(column) if kind in ("TIME", "JSON") else column)
        statements += [f"INSERT INTO {table} SELECT {', '.join(values)} FROM {table}_v2",
                       f"DROP TABLE {table}_v2"]
    if dialect == "postgres":  # the copied keys are past where the sequences stand
        statements += [f"SELECT setval(pg_get_serial_sequence('{t}', 'seq'),"
                       f" (SELECT COALESCE(MAX(seq), 0) + 1 FROM {t}), false)"
                       for t in ("dead_letters", "inbound_log")]
    return statements
