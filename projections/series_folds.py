"""Folds of the time series: orders by the hour and the day they were requested, per provider,
service and country (`orders_hourly`, `orders_daily`), and each day's money flows
(`money_daily`: deposits by method, refunds to the payment method by status, forfeited
balances).

An order counts in the period of its request, under the provider that issued its number
(none until one did), with what became of it since; a refund request in the day it was
made, under its status now. A catch-up's batch only marks the hours and days of the orders
it changes stale (`series_stale`, in the batch's transaction); `series_derived` sums the
stale periods again from the orders table when the catch-up refreshes, and a rebuild sums
the order rows as it writes them. The money flows are folded: a request's part is taken out
of its day before its event is folded and put back after; a rebuild folds them the same way
and keeps the few rows of each day until the end.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from eventsourcing.utils import get_topic

from smsledger.domain.account import Account
from smsledger.domain.order import Order
from smsledger.domain.refund import RefundRequest

from .folding import Fold, StoredRow
from .rows import BatchRows, Row

FORFEITED_KIND = "account_closed"

_ORDER_TOPICS = get_topic(Order) + "."
_REFUND_TOPICS = get_topic(RefundRequest) + "."


def hour_of(stamp: str) -> str:
    """The hour bucket of an RFC 3339 UTC time, as the time its hour starts."""
    return stamp[:13] + ":00:00Z"


def day_of(stamp: str) -> str:
    return stamp[:10]


def _then(fold: Fold, also: Fold) -> Fold:
    def fold_both(rows: BatchRows, key: str, version: int, e: dict[str, Any]) -> None:
        fold(rows, key, version, e)
        also(rows, key, version, e)

    return fold_both


def _add_money(rows: BatchRows, key: tuple[str, str, str], amounts: tuple[int, int, int],
               sign: int = 1) -> None:
    money = rows.money
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
    """The folds of the other read models, each also folding the money flows its event
    changes: every refund-request event, deposits and closed accounts."""
    combined = {}
    for topic, fold in folds.items():
        if topic.startswith(_REFUND_TOPICS):
            fold = _with_refund_series(fold)
        elif topic in _ACCOUNT_SERIES:
            fold = _then(fold, _ACCOUNT_SERIES[topic])
        combined[topic] = fold
    return combined


def preload_series(db: Any, cursor: Any, rows: BatchRows, events: Iterable[StoredRow]) -> None:
    """Before a catch-up's batch is folded: mark the hour and day of every order the events
    change stale (the request time of its row, or of the event that creates it), and load
    the money flows of every day they can change: those of deposits and closures, and the
    request days of the refund requests (the orders' and requests' rows are loaded)."""
    days: set[str] = set()
    hours: set[str] = set()
    orders, refunds = rows.orders.rows, rows.refunds.rows
    for originator, _, topic, state in events:
        if topic.startswith(_ORDER_TOPICS):
            row = orders.get((originator,))
            hours.add((row["requested_at"] if row is not None else state["timestamp"])[:13])
        elif topic.startswith(_REFUND_TOPICS):
            row = refunds.get((originator,))
            days.add(day_of(row["requested_at"] if row is not None else state["timestamp"]))
        elif topic in _ACCOUNT_SERIES:
            days.add(day_of(state["timestamp"]))
    for hour in hours:
        rows.series_stale.put({"series": "orders_hourly", "period": hour + ":00:00Z"})
        rows.series_stale.put({"series": "orders_daily", "period": hour[:10]})
    rows.money.load_in(db, cursor, "day", sorted(days))
