"""The figures a what-if report compares, read from a ledger's read models: money flows per
account, and refund requests to the payment method by rule."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from smsledger.projections.columns import bound_in, json_list

# Per account, in minor units.
AMOUNTS = ("refunded_out", "refund_pending", "refunds_to_balance", "forfeited", "revenue")
# Order states whose hold went back to the balance: the texts' refunds to the balance.
RETURNED_TO_BALANCE = ("failed", "timed_out", "cancelled", "refunded")
GRANTED = ("approved", "awaiting_details", "paid")


@dataclass
class Requests:
    """Refund requests to the payment method: granted ones and their amounts, by rule."""

    granted: int = 0
    amount: int = 0
    rejected: int = 0
    expired: int = 0
    by_rule: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass
class Figures:
    accounts: dict[str, dict[str, int]] = field(default_factory=dict)
    orders_to_balance: int = 0
    requests: Requests = field(default_factory=Requests)

    @classmethod
    def empty(cls) -> Figures:
        return cls()

    def totals(self) -> dict[str, int]:
        return {name: sum(a[name] for a in self.accounts.values()) for name in AMOUNTS}


def figures(ledger: Any, since: datetime | None) -> Figures:
    """The ledger's figures now; refund requests only those made at or after `since`."""
    db = ledger.opened.database
    accounts: dict[str, dict[str, int]] = {}
    for account, refunded_out, pending, forfeited, spent in db.query(
        "SELECT account, refunded_out, refund_pending, forfeited, spent FROM balances"
    ):
        accounts[account] = {
            "refunded_out": refunded_out or 0, "refund_pending": pending or 0,
            "refunds_to_balance": 0, "forfeited": forfeited or 0, "revenue": spent or 0,
        }
    states = ", ".join(f"'{s}'" for s in RETURNED_TO_BALANCE)
    returned = 0
    for account, count, released in db.query(
        f"SELECT account, COUNT(*), SUM(released) FROM orders WHERE state IN ({states})"
        " AND released > 0 GROUP BY account"
    ):
        row = accounts.setdefault(account, dict.fromkeys(AMOUNTS, 0))
        row["refunds_to_balance"] = released or 0
        returned += count
    return Figures(accounts, returned, _requests(db, since))


def _requests(db: Any, since: datetime | None) -> Requests:
    sql = "SELECT status, amount, rules FROM refunds"
    params: tuple[Any, ...] = ()
    if since is not None:
        sql += " WHERE requested_at >= ?"
        params = (bound_in(db.dialect, since),)
    found = Requests()
    for status, amount, rules in db.query(sql, params):
        granted = status in GRANTED
        found.granted += granted
        found.rejected += status == "rejected"
        found.expired += status == "expired"
        found.amount += (amount or 0) if granted else 0
        for rule in json_list(rules) or []:
            entry = found.by_rule.setdefault(rule, {"requests": 0, "amount": 0})
            entry["requests"] += 1
            entry["amount"] += (amount or 0) if granted else 0
    return found


def flows(start: Figures, end: Figures) -> dict[str, dict[str, int]]:
    """Per account, what moved between the two figures."""
    zero = dict.fromkeys(AMOUNTS, 0)
    return {
        account: {name: values[name] - start.accounts.get(account, zero)[name]
                  for name in AMOUNTS}
        for account, values in end.accounts.items()
    }


def side_report(versions: list[str], start: Figures, end: Figures) -> dict[str, Any]:
    per_account = flows(start, end)
    totals = {name: sum(a[name] for a in per_account.values()) for name in AMOUNTS}
    requests = end.requests
    return {
        "policy_versions": versions,
        **totals,
        "orders_refunded_to_balance": end.orders_to_balance - start.orders_to_balance,
        "refunds_to_method": {"count": requests.granted, "amount": requests.amount},
        "requests_rejected": requests.rejected,
        "requests_expired": requests.expired,
        "by_rule": dict(sorted(requests.by_rule.items())),
    }


def account_differences(
    baseline: dict[str, dict[str, int]], whatif: dict[str, dict[str, int]], top: int
) -> list[dict[str, Any]]:
    """The accounts whose outcome differs most: the sum of the differences' sizes."""
    zero = dict.fromkeys(AMOUNTS, 0)
    rows: list[dict[str, Any]] = []
    for account in sorted(set(baseline) | set(whatif)):
        base, other = baseline.get(account, zero), whatif.get(account, zero)
        difference = sum(abs(other[name] - base[name]) for name in AMOUNTS)
        if difference:
            rows.append({"account": account, "difference": difference,
                         "baseline": base, "whatif": other})
    rows.sort(key=lambda r: (-r["difference"], r["account"]))
    return rows[:top]
