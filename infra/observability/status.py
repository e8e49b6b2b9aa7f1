"""What `smsledger status` reads from a store: the log and read-model positions, the relay's,
the journal's counts, the offsets stored per consumer group, and the hash chain's head when
the store has one. Read only: nothing here writes or catches up."""

from __future__ import annotations

from typing import Any

from smsledger.projections.tracking import TRACKING_NAME

JOURNAL_COUNTS = {
    "processed": "processed_messages",
    "rejections": "rejections",
    "dead_letters": "dead_letters",
    "parked": "parked_messages",
}


def tables_with_columns(db: Any) -> dict[str, list[str]]:
    """Every table of the store's schema and its columns."""
    if db.dialect == "postgres":
        rows = db.query(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position")
    else:
        rows = db.query(
            "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p"
            " WHERE m.type = 'table' ORDER BY m.name, p.cid")
    found: dict[str, list[str]] = {}
    for table, column in rows:
        found.setdefault(table, []).append(column)
    return found


def _count(db: Any, tables: dict[str, list[str]], table: str) -> int | None:
    if table not in tables:
        return None
    return int(db.query(f"SELECT COUNT(*) FROM {table}")[0][0])


def read_model_position(db: Any, tables: dict[str, list[str]]) -> int:
    if "projection_tracking" not in tables:
        return 0
    rows = db.query("SELECT position FROM projection_tracking WHERE name = ?", (TRACKING_NAME,))
    return int(rows[0][0]) if rows else 0


def stored_offsets(db: Any, tables: dict[str, list[str]]) -> list[dict[str, Any]]:
    if "consumer_offsets" not in tables:
        return []
    rows = db.query('SELECT consumer_group, topic, "partition", next_offset'
                    ' FROM consumer_offsets ORDER BY consumer_group, topic, "partition"')
    return [{"consumer_group": g, "topic": t, "partition": p, "next_offset": o}
            for g, t, p, o in rows]


def relay_positions(db: Any, tables: dict[str, list[str]], log_position: int
                    ) -> list[dict[str, Any]]:
    if "relay_positions" not in tables:
        return []
    rows = db.query("SELECT name, position FROM relay_positions ORDER BY name")
    return [{"name": n, "position": p, "lag": log_position - p} for n, p in rows]


def chain_head(db: Any, tables: dict[str, list[str]]) -> dict[str, Any] | None:
    """The head of the store's hash chain (`ledger_chain`, moved in every transaction that
    stores events): the position and digest `smsledger digest` prints; None for a store
    without one."""
    if "ledger_chain" not in tables:
        return None
    rows = db.query("SELECT head_position, head_digest, original_from FROM ledger_chain"
                    " WHERE id = 1")
    if not rows:
        return None
    position, digest, original_from = rows[0]
    return {"position": position,
            "digest": None if digest is None else bytes(digest).hex(),
            "original_from": original_from}


def store_status(db: Any, log_position: int, watermark: Any, policy: str | None
                 ) -> dict[str, Any]:
    """The store's part of the status, as plain values."""
    tables = tables_with_columns(db)
    folded = read_model_position(db, tables)
    return {
        "log_position": log_position,
        "read_model_position": folded,
        "read_model_lag": max(log_position - folded, 0),
        "watermark": watermark.isoformat().replace("+00:00", "Z") if watermark else None,
        "policy": policy,
        "journal": {name: _count(db, tables, table) for name, table in JOURNAL_COUNTS.items()},
        "relays": relay_positions(db, tables, log_position),
        "consumer_offsets": stored_offsets(db, tables),
        "chain_head": chain_head(db, tables),
    }
