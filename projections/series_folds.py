"""Folds of the time series: orders by the hour and the day they were requested, per provider,
service and country (`orders_hourly`, `orders_daily`), and each day's money flows
(`money_daily`: deposits by method, refunds to the payment method by status, forfeited
balances).

An order counts in the period of its request, under the provider that issued its number
(none until one did), with what became of it since; a refund request in the day it was
made, under its status now. So every row of the series is a sum over rows of `orders` or
`refunds`, and the fold keeps it so by taking an order's (or request's) part out of the
series before its event is folded and putting the new part back after. The rebuild sums
the order series from the finished orders table (`series_derived.sum_order_series`); the
money flows it folds like a catch-up, keeping the few rows of each day until the end.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from eventsourcing.utils import get_topic

from smsledger.domain.account import Account
from smsledger.domain.order import Order
from smsledger.domain.refund import RefundRequest

from .folding import Fold, StoredRow
from .rows import BatchRows, Row, Rows

# The counted columns of orders_hourly and orders_daily, in the order `_order_part` gives.
ORDER_MEASURES = ("orders", "rejected", "issued", "sms_received", "timed_out", "cancelled",
                  "refunded", "released", "revenue")

FORFEITED_KIND = "account_closed"

_ORDER_TOPICS = get_topic(Order) + "."
_REFUND_TOPICS = get_topic(RefundRequest) + "."

# (group, measures, seconds to SMS) of one order: what it adds to its period's row.
OrderPart = tuple[tuple[str, str, str, str], tuple[int, ...], float | None]


def hour_of(stamp: str) -> str:
    """The hour bucket of an RFC 3339 UTC time, as the time its hour starts."""
    return stamp[:13] + ":00:00Z"


def day_of(stamp: str) -> str:
    return stamp[:10]


def _order_part(row: Row | None) -> OrderPart | None:
    if row is None:
        return None
    state = row["state"]
    return (
        (row["requested_at"], row["provider"] or "", row["service"], row["country"]),
        (1, int(state == "rejected"), int(row["issued_at"] is not None),
         int(row["first_sms_at"] is not None), int(state == "timed_out"),
         int(state == "cancelled"), int(state == "refunded"), row["released"], row["charged"]),
        row["seconds_to_sms"],
    )


def _changes_median(before: OrderPart | None, after: OrderPart | None) -> bool:
    """Whether the times to SMS of the groups involved change (their medians go stale)."""
    if before is not None and after is not None and before[0] == after[0]:
        return before[2] != after[2]
    return any(part is not None and part[2] is not None for part in (before, after))


def _add_order(rows: BatchRows, part: OrderPart, sign: int, stale: bool) -> None:
    (requested_at, provider, service, country), measures, _ = part
    for table, period in ((rows.hourly, hour_of(requested_at)),
                          (rows.daily, day_of(requested_at))):
        row = table.get(period, provider, service, country)
        if row is None:
            row = table.put({
                "period": period, "provider": provider, "service": service, "country": country,
                **dict.fromkeys(ORDER_MEASURES, 0), "median_seconds_to_sms": None, "stale": 0,
            })
        for name, value in zip(ORDER_MEASURES, measures, strict=True):
            row[name] += sign * value
        if stale:
            row["stale"] = 1
        table.touch(row)


def _with_order_series(fold: Fold) -> Fold:
    def fold_order_series(rows: BatchRows, key: str, version: int, e: dict[str, Any]) -> None:
        if not rows.count_stats:  # a rebuild sums the series from the orders table
            fold(rows, key, version, e)
            return
        before = _order_part(rows.orders.get(key))
        fold(rows, key, version, e)
        after = _order_part(rows.orders.get(key))
        if before == after:
            return
        stale = _changes_median(before, after)
        if before is not None:
            _add_order(rows, before, -1, stale)
        if after is not None:
            _add_order(rows, after, +1, stale)

    return fold_order_series


def _add_money(rows: BatchRows, key: tuple[str, str, str], amounts: tuple[int, int, int],
               sign: int = 1) -> None:
    money: Rows = rows.money
    row = money.get(*key)
    if row is None:
        row = money.put({"day": key[0], "flow": key[1], "kind": key[2], "count": 0,
                         "amount": 0, "fee": 0})
    row["count"] += sign * amounts[0]
    row["amount"] += sign * amounts[1]
    row["fee"] += sign * amounts[2]
    money.touch(row)


def _refund_part(row: Row | None) -> tuple[tuple[str, str, str], tuple[int, int, int]] | None:
    if row is None:
        return None
    return ((day_of(row["requested_at"]), "refund", row["status"]),
            (1, row["amount"] or 0, row["fee"] or 0))


def _with_refund_series(fold: Fold) -> Fold:
    def fold_refund_series(rows: BatchRows, key: str, version: int, e: dict[str, Any]) -> None:
        before = _refund_part(rows.refunds.get(key))
        fold(rows, key, version, e)
        after = _refund_part(rows.refunds.get(key))
        if before == after:
            return
        if before is not None:
            _add_money(rows, *before, sign=-1)
        if after is not None:
            _add_money(rows, *after)

    return fold_refund_series


def _then(fold: Fold, also: Fold) -> Fold:
    def fold_both(rows: BatchRows, key: str, version: int, e: dict[str, Any]) -> None:
        fold(rows, key, version, e)
        also(rows, key, version, e)

    return fold_both


def _deposited(rows: BatchRows, key: str, version: int, e: dict[str, Any]) -> None:
    _add_money(rows, (day_of(e["timestamp"]), "deposit", e["method"]), (1, e["amount"], 0))


def _closed(rows: BatchRows, key: str, version: int, e: dict[str, Any]) -> None:
    _add_money(rows, (day_of(e["timestamp"]), "forfeited", FORFEITED_KIND),
               (1, e["forfeited"], 0))


_ACCOUNT_SERIES: dict[str, Fold] = {
    get_topic(Account.Deposited): _deposited,
    get_topic(Account.Closed): _closed,
}


def with_series(folds: dict[str, Fold]) -> dict[str, Fold]:
    """The folds of the other read models, each also folding the time series its event
    changes: every order and refund-request event, deposits and closed accounts."""
    combined = {}
    for topic, fold in folds.items():
        if topic.startswith(_ORDER_TOPICS):
            fold = _with_order_series(fold)
        elif topic.startswith(_REFUND_TOPICS):
            fold = _with_refund_series(fold)
        elif topic in _ACCOUNT_SERIES:
            fold = _then(fold, _ACCOUNT_SERIES[topic])
        combined[topic] = fold
    return combined


def preload_series(db: Any, cursor: Any, rows: BatchRows, events: Iterable[StoredRow]) -> None:
    """Load every series row of the periods these events can change: those of the events'
    own times and of the requests of the orders and refund requests they belong to (their
    rows are loaded already)."""
    stamps: set[str] = set()
    for originator, _, _, state in events:
        stamps.add(state["timestamp"])
        for table in (rows.orders, rows.refunds):
            row = table.get(originator)
            if row is not None:
                stamps.add(row["requested_at"])
    days = sorted({day_of(s) for s in stamps})
    rows.hourly.load_in(db, cursor, "period", sorted({hour_of(s) for s in stamps}))
    rows.daily.load_in(db, cursor, "period", days)
    rows.money.load_in(db, cursor, "day", days)
