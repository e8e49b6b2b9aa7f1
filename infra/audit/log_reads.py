"""Reads of the chained log by position and digest, on either store (the `?` placeholders of
the stores' database adapters; originator ids as 32 hex digits, which both accept)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import orjson

from smsledger.infra.stores.chain import GENESIS, DigestRef


class ProofError(RuntimeError):
    """What was asked cannot be proved from this store (one line, for the command line)."""


@dataclass(frozen=True)
class Head:
    position: int
    digest: bytes
    at: str | None  # the event time of the event at `position`
    original_from: int | None
    upgraded_at: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"position": self.position, "digest": self.digest.hex(), "at": self.at,
                "original_from": self.original_from, "upgraded_at": self.upgraded_at}


def _table(recorder: Any) -> tuple[str, str]:
    return recorder.events_table_name, recorder.position_column


def head(database: Any, recorder: Any) -> Head:
    """The last chained event: the digest an operator publishes."""
    table, position = _table(recorder)
    rows = database.query(
        f"SELECT {position}, digest, state FROM {table} WHERE digest IS NOT NULL"
        f" ORDER BY {position} DESC LIMIT 1")
    chain = database.query("SELECT original_from, upgraded_at FROM ledger_chain WHERE id = 1")
    original_from, upgraded_at = chain[0] if chain else (None, None)
    if not rows:
        return Head(0, GENESIS, None, original_from, upgraded_at)
    at, digest = _event_time(rows[0][2]), bytes(rows[0][1])
    return Head(rows[0][0], digest, at, original_from, upgraded_at)


def _event_time(state: Any) -> str | None:
    try:
        value = orjson.loads(bytes(state) if not isinstance(state, str) else state)
    except orjson.JSONDecodeError:
        return None
    stamp = value.get("timestamp") if isinstance(value, dict) else None
    return stamp.replace("+00:00", "Z") if isinstance(stamp, str) else None


def digest_before(database: Any, recorder: Any, position: int) -> bytes:
    """The digest the event after `position` links to (of the last chained event at or
    before it; the zero digest before the first event)."""
    table, column = _table(recorder)
    rows = database.query(
        f"SELECT digest FROM {table} WHERE {column} <= ? AND digest IS NOT NULL"
        f" ORDER BY {column} DESC LIMIT 1", (position,))
    return bytes(rows[0][0]) if rows else GENESIS


def target(database: Any, recorder: Any, ref: DigestRef | None) -> tuple[int, bytes]:
    """The position and digest a proof leads to: a published digest, or the head."""
    if ref is None:
        found = head(database, recorder)
        return found.position, found.digest
    table, column = _table(recorder)
    if ref.position is not None:
        rows = database.query(f"SELECT {column}, digest FROM {table} WHERE {column} = ?",
                              (ref.position,))
    else:
        rows = database.query(
            f"SELECT {column}, digest FROM {table} WHERE digest = ? ORDER BY {column} LIMIT 1",
            (ref.digest,))
    if not rows or rows[0][1] is None or bytes(rows[0][1]) != ref.digest:
        raise ProofError(
            f"the published digest {ref} is not in this store's chain: run `smsledger audit"
            f" --against {ref}`")
    return rows[0][0], ref.digest


def _of_aggregate(recorder: Any) -> str:
    """The events of one aggregate by its originator id (one `?`), by the store's index;
    rows whose id was removed by hand are none's."""
    return f"{recorder.aggregate_condition} AND originator_id IS NOT NULL"


def first_position(database: Any, recorder: Any, originator: UUID) -> int | None:
    table, column = _table(recorder)
    rows = database.query(f"SELECT MIN({column}) FROM {table} WHERE {_of_aggregate(recorder)}",
                          (originator.hex,))
    return rows[0][0] if rows else None


_EVENT = "originator_id, originator_version, topic, state"


def events_by_aggregate(
    database: Any, recorder: Any, after: tuple[Any, Any] | None, up_to: int, limit: int
) -> list[tuple[Any, ...]]:
    """(position, originator, version, topic, state, walk key) of the events up to position
    `up_to` in (walk key, version) order, the order of the store's unique index on the
    events (the aggregate key, or the originator id where it is the key), after the (walk
    key, version) `after`: a seek in that index per page. A row with a NULL id or version
    (written by hand) is in no such walk; the chain's pass reports it."""
    table, column = _table(recorder)
    key = recorder.walk_key
    start: tuple[Any, ...] = ()
    where = f"{key} IS NOT NULL AND originator_version IS NOT NULL"
    if after is not None:
        where, start = f"({key}, originator_version) > (?, ?)", after
    return database.query(  # type: ignore[no-any-return]
        f"SELECT {column}, {_EVENT}, {key} FROM {table} WHERE {where} AND {column} <= ?"
        f" AND originator_id IS NOT NULL ORDER BY {key}, originator_version LIMIT ?",
        (*start, up_to, limit))


def events_in_log_order(
    database: Any, recorder: Any, originator: Any, up_to: int
) -> list[tuple[Any, ...]]:
    """The same rows of one aggregate (its originator id as stored), in log order."""
    table, column = _table(recorder)
    return database.query(  # type: ignore[no-any-return]
        f"SELECT {column}, {_EVENT} FROM {table} WHERE {_of_aggregate(recorder)}"
        f" AND {column} <= ? ORDER BY {column}", (originator, up_to))
