"""The read models' position in the event log: the notification id folded last."""

from __future__ import annotations

from typing import Any

TRACKING_NAME = "read_models"


def locked_position(db: Any, cursor: Any) -> int:
    """The position, locked for this transaction (PostgreSQL: the row, FOR UPDATE; SQLite:
    the transaction took the database's write lock when it began)."""
    lock = " FOR UPDATE" if db.dialect == "postgres" else ""
    db.execute(
        cursor, f"SELECT position FROM projection_tracking WHERE name = ?{lock}", (TRACKING_NAME,)
    )
    row = cursor.fetchone()
    return row[0] if row else 0


def track(db: Any, cursor: Any, last_id: int) -> None:
    db.execute(
        cursor,
        "INSERT INTO projection_tracking VALUES (?, ?) ON CONFLICT (name)"
        " DO UPDATE SET position = excluded.position",
        (TRACKING_NAME, last_id),
    )
