"""Columns derived across rows after a batch: refundability of deposits, provider
statistics, overdue refunds. Deterministic, so a rebuild reproduces them exactly."""

from __future__ import annotations

from datetime import datetime
from statistics import median
from typing import Any

from smsledger.domain.money import DepositRecord
from smsledger.domain.policies import AccountFacts, Policy, refundable_now

from .formats import iso, parse_iso
from .projector import BatchRows, load_deposits


def accounts_crossing_window(
    db: Any, cursor: Any, policy: Policy, now: datetime
) -> list[str]:
    """Accounts with a deposit still shown refundable but older than the deposit window."""
    limit = iso(now - policy.deposit_window)
    db.execute(
        cursor,
        "SELECT DISTINCT account_id FROM deposits WHERE refundable > 0 AND at < ?", (limit,)
    )
    return [r[0] for r in cursor.fetchall()]


def refresh_deposits(
    db: Any, cursor: Any, rows: BatchRows, account_ids: set[str], policy: Policy, now: datetime
) -> None:
    ids = sorted(account_ids)
    rows.balances.load(db, cursor, [(i,) for i in ids])
    load_deposits(db, cursor, rows.deposits, ids)
    by_account: dict[str, list[dict[str, Any]]] = {}
    for record in rows.deposits.rows.values():
        by_account.setdefault(record["account_id"], []).append(record)
    for account_id in ids:
        balance = rows.balances.get(account_id)
        records = by_account.get(account_id, [])
        if balance is None or not records:
            continue
        facts = AccountFacts(
            status=balance["status"],
            available=balance["available"],
            deposits=tuple(
                DepositRecord(r["deposit"], r["amount"], r["method"], parse_iso(r["at"]),
                              r["seq"], r["refunded"])
                for r in records
            ),
            last_completed_seq=balance["last_completed_seq"],
            last_accepted_seq=balance["last_accepted_seq"],
        )
        per_deposit, verdicts = refundable_now(policy, facts, now)
        for record, verdict in zip(records, verdicts, strict=True):
            refundable = per_deposit.get(record["deposit"], 0)
            blocked = ",".join(verdict.blocked_by)
            if refundable == 0 and not blocked and verdict.remaining > 0:
                blocked = "balance.cap"
            if (record["refundable"], record["blocked_by"]) != (refundable, blocked):
                record.update(refundable=refundable, blocked_by=blocked)
                rows.deposits.touch(record)


def refresh_provider_stats(db: Any, cursor: Any, groups: set[tuple[str, str, str]]) -> None:
    for provider, service, country in sorted(groups):
        db.execute(
            cursor,
            "SELECT state, charged, seconds_to_sms FROM orders"
            " WHERE provider = ? AND service = ? AND country = ?",
            (provider, service, country),
        )
        orders = cursor.fetchall()
        seconds = sorted(r[2] for r in orders if r[2] is not None)
        count = len(orders)
        refunded = sum(1 for r in orders if r[0] == "refunded")
        db.execute(
            cursor,
            "INSERT INTO provider_stats VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (provider, service, country) DO UPDATE SET orders = excluded.orders,"
            " with_sms = excluded.with_sms, sms_rate = excluded.sms_rate,"
            " median_seconds_to_sms = excluded.median_seconds_to_sms,"
            " refunded = excluded.refunded, refund_rate = excluded.refund_rate,"
            " revenue = excluded.revenue",
            (
                provider, service, country, count, len(seconds),
                round(len(seconds) / count, 4) if count else 0.0,
                float(median(seconds)) if seconds else None,
                refunded, round(refunded / count, 4) if count else 0.0,
                sum(r[1] for r in orders),
            ),
        )


def refresh_overdue(db: Any, cursor: Any, now: datetime) -> None:
    """Open refunds past their payout (or, awaiting details, review) due time."""
    stamp = iso(now)
    db.execute(
        cursor,
        "UPDATE refunds SET overdue = CASE WHEN status IN ('approved', 'awaiting_details')"
        " AND COALESCE(payout_due, review_due) < ? THEN 1 ELSE 0 END",
        (stamp,),
    )
