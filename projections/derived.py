"""Columns derived across rows after a batch: refundability of deposits, provider
statistics, overdue refunds. Deterministic, so a rebuild reproduces them exactly."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from smsledger.domain.decisions import AccountFacts, refundable_now
from smsledger.domain.money import DepositRecord
from smsledger.domain.policies import BALANCE_CAP, Policy

from .columns import bound_in
from .formats import iso, parse_iso
from .rows import BatchRows
from .series_derived import refresh_order_series


def accounts_crossing_window(
    db: Any, cursor: Any, policy: Policy, now: datetime, since: datetime | None = None
) -> list[str]:
    """Accounts with a deposit older than the deposit window whose row does not say so yet
    (refundable or not: its blocking rules change either way). With `since` (the clock of
    the last refresh, which saw to every deposit that was older then), only the deposits
    that crossed the window after it: the work follows the clock, not the log."""
    condition, params = "at < ?", [bound_in(db.dialect, now - policy.deposit_window)]
    if since is not None:
        condition += " AND at >= ?"
        params.append(bound_in(db.dialect, since - policy.deposit_window))
    db.execute(
        cursor,
        f"SELECT DISTINCT account_id FROM deposits WHERE {condition}"
        " AND CAST(blocked_by AS TEXT) NOT LIKE '%deposit.window_expired%'",
        params,
    )
    return [r[0] for r in cursor.fetchall()]


def stale_accounts(db: Any, cursor: Any) -> list[str]:
    db.execute(cursor, "SELECT id FROM balances WHERE stale = TRUE ORDER BY id")
    return [r[0] for r in cursor.fetchall()]


def refresh_deposits(
    db: Any, cursor: Any, account_ids: list[str], policy: Policy, now: datetime
) -> None:
    """Re-derive refundability of the deposits of these accounts (in bounded chunks)."""
    for start in range(0, len(account_ids), 2000):
        chunk = account_ids[start : start + 2000]
        rows = BatchRows()
        rows.balances.load(db, cursor, [(i,) for i in chunk])
        rows.deposits.load_in(db, cursor, "account_id", chunk)
        by_account: dict[str, list[dict[str, Any]]] = {}
        for record in rows.deposits.rows.values():
            by_account.setdefault(record["account_id"], []).append(record)
        for account_id in chunk:
            balance = rows.balances.get(account_id)
            if balance is None:
                continue
            _refresh_account(rows, balance, by_account.get(account_id, []), policy, now)
            rows.balances.touch(balance)
        rows.flush(db, cursor)


def _refresh_account(
    rows: BatchRows, balance: dict[str, Any], records: list[dict[str, Any]], policy: Policy,
    now: datetime,
) -> None:
    for record in derive_account(balance, records, policy, now):
        rows.deposits.touch(record)


def derive_account(
    balance: dict[str, Any], records: list[dict[str, Any]], policy: Policy, now: datetime
) -> list[dict[str, Any]]:
    """Set the refundability of one account's deposit rows as of `now` and clear the
    balance row's stale mark; returns the deposit rows that changed."""
    balance["stale"] = 0
    if not records:
        return []
    facts = AccountFacts(
        status=balance["status"],
        available=balance["available"],
        deposits=tuple(
            DepositRecord(r["deposit"], r["amount"], r["method"], parse_iso(r["at"]),  # type: ignore[arg-type]
                          r["seq"], r["refunded"])
            for r in records
        ),
        completed_purchase_seq=balance["completed_purchase_seq"],
        last_accepted_seq=balance["last_accepted_seq"],
    )
    per_deposit, verdicts = refundable_now(policy, facts, now)
    changed = []
    for record, verdict in zip(records, verdicts, strict=True):
        refundable = per_deposit.get(record["deposit"], 0)
        blocked = list(verdict.blocked_by)
        if refundable == 0 and not blocked:
            blocked = [BALANCE_CAP]
        if (record["refundable"], record["blocked_by"]) != (refundable, blocked):
            record.update(refundable=refundable, blocked_by=blocked)
            changed.append(record)
    return changed


def sum_provider_stats(db: Any, cursor: Any) -> None:
    """The provider statistics' counts and sums from the orders table, in one statement, for
    read models whose folds did not count them: a group per provider, service and country
    with an issued order (only an issued order has a provider); the orders issued; those
    with a first SMS after issue (the ones with a time to SMS); refunded ones; and revenue,
    what was charged (nothing until an order closes). Rates and medians are left stale."""
    db.execute(
        cursor,
        "INSERT INTO provider_stats (provider, service, country, orders, with_sms, sms_rate,"
        " median_seconds_to_sms, refunded, refund_rate, revenue, stale)"
        " SELECT provider, service, country, COUNT(*), COUNT(seconds_to_sms), 0.0, NULL,"
        " SUM(CASE WHEN state = 'refunded' THEN 1 ELSE 0 END), 0.0, SUM(charged), TRUE"
        " FROM orders WHERE provider IS NOT NULL GROUP BY provider, service, country",
    )


def refresh_provider_stats(db: Any, cursor: Any) -> None:
    """Rates and the median time to SMS of every group changed since the last refresh;
    the median reads the group's orders in order through the index that ends in
    seconds_to_sms."""
    rows = BatchRows()
    for stats in rows.stats.load_where(db, cursor, "stale = TRUE", []):
        group = (stats["provider"], stats["service"], stats["country"])
        count = stats["orders"]
        stats["sms_rate"] = round(stats["with_sms"] / count, 4) if count else 0.0
        stats["refund_rate"] = round(stats["refunded"] / count, 4) if count else 0.0
        stats["median_seconds_to_sms"] = _median(db, cursor, group, stats["with_sms"])
        stats["stale"] = 0
        rows.stats.touch(stats)
    rows.flush(db, cursor)


def _median(db: Any, cursor: Any, group: tuple[str, str, str], count: int) -> float | None:
    if count == 0:
        return None
    db.execute(
        cursor,
        "SELECT seconds_to_sms FROM orders WHERE provider = ? AND service = ? AND country = ?"
        " AND seconds_to_sms IS NOT NULL ORDER BY seconds_to_sms LIMIT ? OFFSET ?",
        (*group, 2 - count % 2, (count - 1) // 2),
    )
    values = [float(r[0]) for r in cursor.fetchall()]
    return sum(values) / len(values) if values else None


def refresh_overdue(db: Any, cursor: Any, now: datetime) -> None:
    """Open refunds past their payout (or, failing that, review) due time; only the open
    ones and those marked overdue are looked at (the others stay not overdue)."""
    db.execute(
        cursor,
        "UPDATE refunds SET overdue = CASE WHEN status IN ('approved', 'awaiting_details')"
        " AND COALESCE(payout_due, review_due) < ? THEN TRUE ELSE FALSE END"
        " WHERE status IN ('approved', 'awaiting_details') OR overdue = TRUE",
        (bound_in(db.dialect, now),),
    )


def refresh_with(
    db: Any, cursor: Any, clock: Any, *, accounts_derived: bool = False,
    position: int | None = None,
) -> None:
    """Columns that depend on many rows or on the clock, for what changed since last time
    (`clock`: the event-time `now`, None before any event, and the `policy` version in
    force then). `accounts_derived`: every account was just derived under that version (a
    rebuild). When the version in force changed since the last refresh, every account
    with deposits is derived again. `position`: the tracking position derived at."""
    refresh_provider_stats(db, cursor)
    refresh_order_series(db, cursor)
    if clock.now is None:
        return
    if not accounts_derived:
        accounts = set(stale_accounts(db, cursor))
        last = _derived(db, cursor)
        if last is not None and last[0] == clock.policy.ref:
            since = parse_iso(last[1]) if last[1] else None
            accounts.update(accounts_crossing_window(db, cursor, clock.policy, clock.now,
                                                     since))
        else:
            db.execute(cursor, "SELECT DISTINCT account_id FROM deposits")
            accounts.update(r[0] for r in cursor.fetchall())
        refresh_deposits(db, cursor, sorted(accounts), clock.policy, clock.now)
    db.execute(
        cursor,
        "INSERT INTO derived_under VALUES ('deposits', ?, ?, ?) ON CONFLICT (name)"
        " DO UPDATE SET policy = excluded.policy, clock = excluded.clock,"
        " position = excluded.position",
        (clock.policy.ref, iso(clock.now), position),
    )
    refresh_overdue(db, cursor, clock.now)


def derived_is_current(db: Any, clock: Any, position: int) -> bool:
    """Nothing to derive: the last refresh was at this clock, position and policy version
    (read without a lock: a read of a caught-up store writes nothing)."""
    if clock.now is None:
        return False
    rows = db.query("SELECT policy, clock, position FROM derived_under WHERE name = 'deposits'")
    return bool(rows) and tuple(rows[0]) == (clock.policy.ref, iso(clock.now), position)


def _derived(db: Any, cursor: Any) -> tuple[str, str | None] | None:
    db.execute(cursor, "SELECT policy, clock FROM derived_under WHERE name = 'deposits'")
    row = cursor.fetchone()
    return (row[0], row[1]) if row else None
