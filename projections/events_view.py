"""The `events` view: the event log joined to the read models by external id, for SQL.

One row per stored event: its position in the log, the aggregate's external ids (the
account for every event of an account, an order or a refund request; the order or the
request for theirs), the event's type (`Order.Issued`), its time, and its decoded data
(JSON: `json_extract(data, '$.price')` in SQLite, `data->>'price'` in PostgreSQL). The
data is readable only where the store keeps event states as plain JSON (no cipher or
compressor configured)."""

from __future__ import annotations

# The event tables the library makes for this application (infra.stores.selection).
EVENTS_TABLE = {"sqlite": "stored_events", "postgres": "smsledger_events"}

_SQLITE = """CREATE VIEW IF NOT EXISTS events AS SELECT
 e.rowid AS position,
 COALESCE(o.account, b.account, r.account) AS account,
 o."order" AS "order",
 r.request AS request,
 substr(e.topic, instr(e.topic, ':') + 1) AS type,
 CASE WHEN length(json_extract(CAST(e.state AS TEXT), '$.timestamp')) = 25
  THEN substr(json_extract(CAST(e.state AS TEXT), '$.timestamp'), 1, 19) || '.000000Z'
  ELSE replace(json_extract(CAST(e.state AS TEXT), '$.timestamp'), '+00:00', 'Z') END AS at,
 e.originator_version AS version,
 CAST(e.state AS TEXT) AS data,
 e.originator_id AS aggregate_id
FROM {events} e
LEFT JOIN orders o ON o.id = e.originator_id
LEFT JOIN balances b ON b.id = e.originator_id
LEFT JOIN refunds r ON r.id = e.originator_id"""

_POSTGRES = """CREATE OR REPLACE VIEW events AS SELECT
 e.notification_id AS position,
 COALESCE(o.account, b.account, r.account) AS account,
 o."order" AS "order",
 r.request AS request,
 split_part(e.topic, ':', 2) AS type,
 (convert_from(e.state, 'UTF8')::jsonb ->> 'timestamp')::timestamptz AS at,
 e.originator_version AS version,
 convert_from(e.state, 'UTF8')::jsonb AS data,
 replace(e.originator_id::text, '-', '') AS aggregate_id
FROM {events} e
LEFT JOIN orders o ON o.id = replace(e.originator_id::text, '-', '')
LEFT JOIN balances b ON b.id = replace(e.originator_id::text, '-', '')
LEFT JOIN refunds r ON r.id = replace(e.originator_id::text, '-', '')"""


def events_view_statement(dialect: str) -> str:
    template = _SQLITE if dialect == "sqlite" else _POSTGRES
    return template.format(events=EVENTS_TABLE[dialect])
