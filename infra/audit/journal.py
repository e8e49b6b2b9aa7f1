"""The audit of the message journal beside the log: processed ids, rejections, dead letters,
the clock and the read models' position agree with each other and with the log. These are
consistency checks (the journal is not in the hash chain): a row removed or altered by
hand that leaves the tables consistent with each other is not seen."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from smsledger.domain.policies import POLICIES, Policy
from smsledger.infra.stores.journal_sql import dead_letter_fingerprint

OUTCOMES = ("applied", "ignored", "rejected", "dead_lettered")
SHOWN = 3  # ids named per problem


def check_journal(database: Any, last_position: int) -> list[str]:
    problems: list[str] = []
    problems += _outcomes(database)
    problems += _unmatched(
        database, "rejections", "processed_messages", "outcome = 'rejected'",
        "rejections without a processed message rejected")
    problems += _unmatched(
        database, "processed_messages", "rejections", "",
        "messages processed as rejected without a rejection", where="outcome = 'rejected'")
    problems += _unmatched(
        database, "processed_messages", "dead_letters", "",
        "messages processed as dead-lettered without a dead letter",
        where="outcome = 'dead_lettered'")
    problems += _fingerprints(database)
    problems += _clock(database)
    problems += _tracking(database, last_position)
    return problems


def _outcomes(database: Any) -> list[str]:
    rows = database.query("SELECT outcome, COUNT(*) FROM processed_messages GROUP BY outcome")
    return [f"processed_messages: {count} rows with unknown outcome {outcome!r}"
            for outcome, count in rows if outcome not in OUTCOMES]


def _unmatched(
    database: Any, table: str, other: str, condition: str, what: str, where: str = ""
) -> list[str]:
    """Rows of `table` (filtered by `where`) whose message id has no row in `other`
    (filtered by `condition`)."""
    join = f" AND o.{condition}" if condition else ""
    filtered = f" AND t.{where}" if where else ""
    unmatched = (
        f"FROM {table} t LEFT JOIN {other} o ON o.message = t.message{join}"
        f" WHERE o.message IS NULL AND t.message IS NOT NULL{filtered}")
    count = database.query(f"SELECT COUNT(*) {unmatched}")[0][0]
    if not count:
        return []
    rows = database.query(f"SELECT t.message {unmatched} ORDER BY t.message LIMIT {SHOWN}")
    named = ", ".join(str(r[0]) for r in rows)
    return [f"journal: {count} {what} ({named}{', …' if count > SHOWN else ''})"]


def _fingerprints(database: Any) -> list[str]:
    """Lines without a message id are kept once by a fingerprint of where they came from and
    their bytes: a fingerprint that does not match shows an altered dead letter."""
    altered: list[str] = []
    after = 0
    while True:
        rows = database.query(
            'SELECT seq, message, source, "partition", "offset", raw, fingerprint'
            " FROM dead_letters WHERE seq > ? ORDER BY seq LIMIT 1000", (after,))
        if not rows:
            break
        for seq, message_id, source, partition, offset, raw, fingerprint in rows:
            letter = (message_id, "", "", source, partition, offset, bytes(raw))
            if dead_letter_fingerprint(letter) != fingerprint:
                altered.append(str(seq))
        after = rows[-1][0]
    if not altered:
        return []
    return [f"dead_letters: {len(altered)} rows whose bytes or origin do not match their"
            f" fingerprint (seq {', '.join(altered[:SHOWN])})"]


def _clock(database: Any) -> list[str]:
    rows = database.query("SELECT id, watermark, policy FROM ledger_clock")
    problems = []
    if len(rows) > 1 or rows and rows[0][0] != 1:
        problems.append(f"ledger_clock: {len(rows)} rows (ids {[r[0] for r in rows]});"
                        " the ledger keeps one, id 1")
    for _, watermark, policy in rows:
        try:
            parsed = watermark if isinstance(watermark, datetime) else datetime.fromisoformat(
                watermark)
        except (TypeError, ValueError):
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            problems.append(f"ledger_clock: watermark {watermark!r} is not a time with offset")
        if policy not in POLICIES:
            problems.append(f"ledger_clock: policy {policy!r} is not a known policy")
    return problems


def _tracking(database: Any, last_position: int) -> list[str]:
    rows = database.query("SELECT name, position FROM projection_tracking")
    return [f"projection_tracking: {name} folded up to position {position}, but the log ends"
            f" at {last_position}: events were removed after they were folded"
            for name, position in rows if position > last_position]


def check_policies(store_policy: Policy, named: set[str]) -> list[str]:
    """Every decision names the policy the store runs (ledger_clock): a clock edited to
    another policy would have the read models derive refunds under other rules."""
    return [f"events decided under {ref}, but the store runs policy {store_policy.name!r}"
            for ref in sorted(named) if ref.partition("@")[0] != store_policy.name]
