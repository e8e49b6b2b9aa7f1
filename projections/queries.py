"""Reading the read models as lists of plain dicts, with the field names of DESIGN §9."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from .columns import json_list, time_out
from .series_queries import GROUP_VIEWS, SERIES_QUERIES, SERIES_SHAPES, TIME_COLUMNS, time_bound


def _list(value: Any) -> list[str]:
    """A JSON list column: a list from PostgreSQL, JSON text from SQLite."""
    return list(json_list(value) or [])


def _time(value: Any) -> str | None:
    """A time column in the output's form (RFC 3339 UTC with a Z)."""
    shown: str | None = time_out(value)
    return shown


def _int(value: Any) -> int:
    return int(value) if value is not None else 0


QUERIES: dict[str, tuple[str, str, str]] = {
    # name: (select, account column for --account, order by)
    "balances": (
        "SELECT account, currency, deposited, available, held, spent, refund_pending,"
        " refunded_out, forfeited, status FROM balances",
        "account", "account",
    ),
    "orders": (
        'SELECT "order", account, state, service, country, provider, price, charged,'
        " released, reason FROM orders",
        "account", '"order"',
    ),
    "deposits": (
        "SELECT deposit, account, method, amount, at, refundable, blocked_by FROM deposits",
        "account", "account, at, deposit",
    ),
    "refunds": (
        "SELECT request, account, status, requested, amount, fee, rules, review_due,"
        " payout_due, overdue, route, policy FROM refunds",
        "account", "request",
    ),
    "rejections": (
        "SELECT message, type, at, account, subject, reason, detail, rules FROM rejections",
        "account", "at, message",
    ),
    "dead-letters": (
        'SELECT seq, message, reason, detail, source, "partition", "offset", raw'
        " FROM dead_letters",
        "", "seq",
    ),
    "stats": (
        "SELECT provider, service, country, orders, with_sms, sms_rate, median_seconds_to_sms,"
        " refunded, refund_rate, revenue FROM provider_stats",
        "", "provider, service, country",
    ),
}
QUERIES.update(SERIES_QUERIES)


def _balances(r: tuple[Any, ...]) -> dict[str, Any]:
    money = ("deposited", "available", "held", "spent", "refund_pending", "refunded_out",
             "forfeited")
    row = {"account": r[0], "currency": r[1]}
    row.update({name: _int(value) for name, value in zip(money, r[2:9], strict=True)})
    return row


def _orders(r: tuple[Any, ...]) -> dict[str, Any]:
    return {
        "order": r[0], "account": r[1], "state": r[2], "service": r[3], "country": r[4],
        "provider": r[5], "price": _int(r[6]), "charged": _int(r[7]), "released": _int(r[8]),
        "reason": r[9],
    }


def _deposits(r: tuple[Any, ...]) -> dict[str, Any]:
    return {
        "deposit": r[0], "account": r[1], "method": r[2], "amount": _int(r[3]),
        "at": _time(r[4]), "refundable": _int(r[5]), "blocked_by": _list(r[6]),
    }


def _refunds(r: tuple[Any, ...]) -> dict[str, Any]:
    return {
        "request": r[0], "account": r[1], "status": r[2],
        "requested": None if r[3] is None else int(r[3]), "amount": _int(r[4]),
        "fee": _int(r[5]), "rules": _list(r[6]), "route": r[10], "payout_due": _time(r[8]),
        "overdue": bool(r[9]), "policy": r[11],
    }


def _rejections(r: tuple[Any, ...]) -> dict[str, Any]:
    return {
        "message": r[0], "type": r[1], "at": _time(r[2]), "account": r[3], "subject": r[4],
        "reason": r[5], "detail": r[6], "rules": _list(r[7]),
    }


def _dead_letters(r: tuple[Any, ...]) -> dict[str, Any]:
    raw = bytes(r[7])
    return {
        "message": r[1], "reason": r[2], "detail": r[3], "source": r[4], "partition": r[5],
        "offset": r[6], "raw": raw.decode("utf-8", errors="replace"),
    }


def _stats(r: tuple[Any, ...]) -> dict[str, Any]:
    return {
        "provider": r[0], "service": r[1], "country": r[2], "orders": _int(r[3]),
        "with_sms": _int(r[4]), "sms_rate": r[5], "median_seconds_to_sms": r[6],
        "refunded": _int(r[7]), "refund_rate": r[8], "revenue": _int(r[9]),
    }


SHAPES = {
    "balances": _balances, "orders": _orders, "deposits": _deposits, "refunds": _refunds,
    "rejections": _rejections, "dead-letters": _dead_letters, "stats": _stats,
}
SHAPES.update(SERIES_SHAPES)

# Extra columns shown in the human table but not part of the JSON contract.
EXTRAS: dict[str, Callable[[tuple[Any, ...]], dict[str, Any]]] = {
    "balances": lambda r: {"status": r[9]},
    "refunds": lambda r: {"review_due": _time(r[7])},
}


def run_query(
    db: Any, name: str, *, account: str | None = None, extras: bool = False,
    since: datetime | None = None, until: datetime | None = None,
    provider: str | None = None, service: str | None = None, country: str | None = None,
) -> list[dict[str, Any]]:
    """The rows of one view; `since` (inclusive) and `until` (exclusive) bound its time
    column (see `series_queries.time_bound`), the other filters select equal values."""
    select, account_column, order_by = QUERIES[name]
    conditions, params = _filters(name, since, until, {"provider": provider,
                                                       "service": service, "country": country},
                                  db.dialect)
    if account and account_column:
        conditions.append(f"{account_column} = ?")
        params.append(account)
    sql = select + (f" WHERE {' AND '.join(conditions)}" if conditions else "")
    sql += f" ORDER BY {order_by}"
    shape = SHAPES[name]
    rows = []
    for raw in db.query(sql, params):
        row = shape(raw)
        if extras and name in EXTRAS:
            row.update(EXTRAS[name](raw))
        rows.append(row)
    return rows


def _filters(
    name: str, since: datetime | None, until: datetime | None, group: dict[str, str | None],
    dialect: str,
) -> tuple[list[str], list[Any]]:
    conditions: list[str] = []
    params: list[Any] = []
    for bound, operator in ((since, ">="), (until, "<")):
        if bound is None:
            continue
        if name not in TIME_COLUMNS:
            raise ValueError(f"query {name} has no time to select by")
        column, form = TIME_COLUMNS[name]
        conditions.append(f"{column} {operator} ?")
        params.append(time_bound(bound, form, dialect))
    for column, value in group.items():
        if value is None:
            continue
        if name not in GROUP_VIEWS:
            raise ValueError(f"query {name} has no {column} to select by")
        conditions.append(f"{column} = ?")
        params.append(value)
    return conditions, params
