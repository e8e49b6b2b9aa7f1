"""Edits an attacker (or a careless operator) makes to a store directly with SQL, on SQLite
and PostgreSQL alike, each with what `audit` must then say."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from smsledger.infra.stores.chain import leaf, link, originator_bytes

ZEN = "Beautiful is better than ugly"  # printed if `this:Zen` were ever imported


@dataclass
class Db:
    """A DB-API connection to a store, with the dialect's names."""

    connection: Any
    events: str  # stored_events / smsledger_events
    position: str  # rowid / notification_id
    placeholder: str  # ? / %s

    def sql(self, statement: str) -> str:
        statement = statement.format(events=self.events, pos=self.position)
        if self.placeholder == "%s":
            statement = statement.replace("%", "%%")
        return statement.replace("?", self.placeholder)

    def rows(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return list(self.connection.execute(self.sql(statement), params).fetchall())

    def run(self, statement: str, params: tuple[Any, ...] = ()) -> int:
        return int(self.connection.execute(self.sql(statement), params).rowcount)

    def insert_event(self, columns: tuple[Any, ...], digest: bytes | None = None) -> int:
        """A row appended as the store's own inserts write it: on SQLite with its
        aggregate's key, which a forger who reads the schema finds beside the id."""
        names = "originator_id, originator_version, topic, state"
        values = "?, ?, ?, ?"
        params: tuple[Any, ...] = columns
        if digest is not None:
            names, values, params = f"{names}, digest", f"{values}, ?", (*params, digest)
        if self.position == "rowid":
            names += ", aggregate_key"
            values += ", (SELECT key FROM aggregate_keys WHERE originator_id = ?)"
            params = (*params, columns[0])
        return self.run(f"INSERT INTO {{events}} ({names}) VALUES ({values})", params)


def _aggregate_with_three_events(db: Db) -> Any:
    return db.rows("SELECT originator_id FROM {events} GROUP BY originator_id"
                   " HAVING COUNT(*) >= 3 ORDER BY originator_id LIMIT 1")[0][0]


def edit_amount(db: Db) -> list[str]:
    position, state = db.rows("SELECT {pos}, state FROM {events} WHERE topic LIKE"
                              " '%Account.Deposited' ORDER BY {pos} LIMIT 1")[0]
    document = orjson.loads(bytes(state))
    document["amount"] *= 10
    assert db.run("UPDATE {events} SET state = ? WHERE {pos} = ?",
                  (orjson.dumps(document), position)) == 1
    return [f"position {position}: account", "(Account.Deposited): its bytes"]


def delete_event(db: Db) -> list[str]:
    originator = _aggregate_with_three_events(db)
    assert db.run("DELETE FROM {events} WHERE originator_id = ? AND originator_version = 2",
                  (originator,)) == 1
    return ["version 3 follows version 1: version 2 missing", "an event before it was removed"]


def reorder_versions(db: Db) -> list[str]:
    originator = _aggregate_with_three_events(db)
    for old, new in ((2, -2), (3, 2), (-2, 3)):
        db.run("UPDATE {events} SET originator_version = ? WHERE originator_id = ?"
               " AND originator_version = ?", (new, originator, old))
    return ["its version was 2 when it was written, now 3", "versions were renumbered or swapped"]


def _forged_deposit(db: Db) -> tuple[Any, int, str, bytes]:
    originator, version = db.rows(
        "SELECT originator_id, MAX(originator_version) FROM {events} WHERE originator_id ="
        " (SELECT originator_id FROM {events} WHERE topic LIKE '%Account.Opened' ORDER BY {pos}"
        " LIMIT 1) GROUP BY originator_id")[0]
    state = orjson.dumps({"timestamp": "2026-06-01T23:30:00+00:00", "deposit": "forged-1",
                          "amount": 100_000, "method": "card"})
    return originator, version + 1, "smsledger.domain.account:Account.Deposited", state


def forge_event(db: Db) -> list[str]:
    db.insert_event(_forged_deposit(db))
    return ["(Account.Deposited): it carries no digest", "were appended by hand"]


def forge_chained_event(db: Db) -> list[str]:
    """A forger who knows the chain's algorithm, but not that the ledger records its head."""
    originator, version, topic, state = forged = _forged_deposit(db)
    tail = bytes(db.rows("SELECT digest FROM {events} ORDER BY {pos} DESC LIMIT 1")[0][0])
    digest = link(tail, leaf(originator_bytes(originator), version, topic, state))
    db.insert_event(forged, digest)
    return ["were appended by hand"]


def truncate_tail(db: Db) -> list[str]:
    last = db.rows("SELECT MAX({pos}) FROM {events}")[0][0]
    assert db.run("DELETE FROM {events} WHERE {pos} > ?", (last - 5,)) == 5
    return [f"the log ends at position {last - 5}, but the ledger wrote up to position {last}",
            "(truncated)"]


def alter_read_model(db: Db) -> list[str]:
    assert db.run("UPDATE balances SET available = available + 1 WHERE account ="
                  " (SELECT MIN(account) FROM balances)") == 1
    return ["projection balances:", ".available projected"]


def import_topic(db: Db) -> list[str]:
    position = db.rows("SELECT MAX({pos}) / 2 FROM {events}")[0][0]
    assert db.run("UPDATE {events} SET topic = 'this:Zen' WHERE {pos} = ?", (position,)) == 1
    return [f"position {position}:", "'this:Zen' is not an event of this ledger"]


def remove_rejection(db: Db) -> list[str]:
    assert db.run("DELETE FROM rejections WHERE message ="
                  " (SELECT MIN(message) FROM rejections)") == 1
    return ["journal: 1 messages processed as rejected without a rejection"]


def alter_dead_letter(db: Db) -> list[str]:
    assert db.run("UPDATE dead_letters SET raw = ? WHERE seq = (SELECT MIN(seq) FROM"
                  " dead_letters WHERE message IS NULL)", (b"{}",)) == 1
    return ["do not match their fingerprint"]


def rechain_after_edit(db: Db) -> list[str]:
    """An edit whose digests, and the recorded head, are all recomputed: only a published
    digest shows it (`audit --against`)."""
    edit_amount(db)
    rows = db.rows("SELECT {pos}, originator_id, originator_version, topic, state FROM {events}"
                   " ORDER BY {pos}")
    previous = bytes(32)
    for position, originator, version, topic, state in rows:
        previous = link(previous, leaf(originator_bytes(originator), version, topic,
                                       bytes(state)))
        db.run("UPDATE {events} SET digest = ? WHERE {pos} = ?", (previous, position))
    db.run("UPDATE ledger_chain SET head_digest = ?", (previous,))
    return ["the chain does not give the published digest", "the log up to it was rewritten"]


TAMPERING: dict[str, Callable[[Db], list[str]]] = {
    f.__name__: f for f in (
        edit_amount, delete_event, reorder_versions, forge_event, forge_chained_event,
        truncate_tail, alter_read_model, import_topic, remove_rejection, alter_dead_letter,
        rechain_after_edit,
    )
}
