"""Folding stored events into the rows of the read models, one batch at a time.

The fold works on the stored form (topic and JSON state) rather than on domain event
objects: a rebuild decodes each event once with orjson and never constructs it, which is
what makes replaying the whole log fast. Topics are derived from the event classes, so a
renamed event class cannot silently fall out of the projection.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import orjson
from eventsourcing.utils import get_topic

from smsledger.domain.account import Account
from smsledger.domain.order import Order
from smsledger.domain.refund import RefundRequest

from .rows import BatchRows, Row

StoredRow = tuple[str, int, str, dict[str, Any]]  # originator hex, version, topic, state
Fold = Callable[["BatchRows", str, int, dict[str, Any]], None]


def z(stamp: str | None) -> str | None:
    """orjson's UTC timestamps ("...+00:00") in the read models' form ("...Z"); in an
    RFC 3339 timestamp "+00:00" can only be its offset, so one replace does it."""
    return None if stamp is None else stamp.replace("+00:00", "Z")


def originator_hex(originator: Any) -> str:
    """A stored originator id as the read models key it: SQLite stores the hex already,
    PostgreSQL returns a UUID."""
    return originator if isinstance(originator, str) else originator.hex


def touched_keys(events: list[StoredRow]) -> dict[str, set[tuple[str]]]:
    """The primary keys of the orders, balances and refunds rows these events change."""
    keys: dict[str, set[tuple[str]]] = {"orders": set(), "balances": set(), "refunds": set()}
    for originator, _, topic, _ in events:
        table = TABLE_OF_TOPIC.get(topic)
        if table is not None:
            keys[table].add((originator,))
    return keys


def fold_page(rows: BatchRows, page: Sequence[tuple[Any, int, str, bytes]]) -> None:
    """Fold stored events as a log returns them: (originator id, version, topic, state as
    JSON), each decoded once."""
    folds, loads = FOLDS, orjson.loads
    if page and not isinstance(page[0][0], str):  # a log returns one type of id throughout
        page = [(originator_hex(o), v, t, s) for o, v, t, s in page]
    for originator, version, topic, state in page:
        handler = folds.get(topic)
        if handler is not None:
            handler(rows, originator, version, loads(state))


def fold(rows: BatchRows, event: StoredRow) -> None:
    originator, version, topic, state = event
    handler = FOLDS.get(topic)
    if handler is not None:
        handler(rows, originator, version, state)


# Orders.

def _order_created(rows: BatchRows, key: str, version: int, e: dict[str, Any]) -> None:
    at = z(e["timestamp"])
    row = rows.orders.put({
        "id": key, "order_ref": e["order"], "account": e["account"], "service": e["service"],
        "country": e["country"], "provider": None, "price": e["price"], "issued_price": None,
        "charged": 0, "released": 0, "requested_at": at, "issued_at": None,
        "first_sms_at": None, "seconds_to_sms": None, "sms_count": 0, "closed_at": None,
        "state": "requested", "reason": None, "deadline": z(e.get("deadline")),
        "policy": e.get("policy"),
    })
    if "reason" in e:
        row.update(state="rejected", reason=e["reason"], closed_at=at)


def _order(rows: BatchRows, key: str) -> Row:
    row = rows.orders.get(key)
    assert row is not None, f"order row {key} missing"
    rows.orders.touch(row)
    return row


def _group(rows: BatchRows, row: Row) -> Row:
    group = (row["provider"], row["service"], row["country"])
    stats = rows.stats.get(*group)
    if stats is None:
        stats = rows.stats.put({
            "provider": group[0], "service": group[1], "country": group[2], "orders": 0,
            "with_sms": 0, "sms_rate": 0.0, "median_seconds_to_sms": None, "refunded": 0,
            "refund_rate": 0.0, "revenue": 0, "stale": 1,
        })
    stats["stale"] = 1
    rows.stats.touch(stats)
    return stats


def _issued(rows: BatchRows, key: str, version: int, e: dict[str, Any]) -> None:
    row = _order(rows, key)
    row["state"] = "waiting_sms"
    row["provider"] = e["provider"]
    row["issued_price"] = e["price"]
    row["issued_at"] = z(e["timestamp"])
    row["deadline"] = z(e["deadline"])
    if rows.count_stats:
        _group(rows, row)["orders"] += 1


def _sms_received(rows: BatchRows, key: str, version: int, e: dict[str, Any]) -> None:
    row = _order(rows, key)
    row["state"] = "sms_received"
    row["sms_count"] += 1
    if row["first_sms_at"] is None:
        row["first_sms_at"] = z(e["timestamp"])
        if row["issued_at"] is not None:
            issued = datetime.fromisoformat(row["issued_at"])  # reads the "Z" form too
            received = datetime.fromisoformat(e["timestamp"])
            row["seconds_to_sms"] = (received - issued).total_seconds()
            if rows.count_stats:
                _group(rows, row)["with_sms"] += 1


def _another_sms(rows: BatchRows, key: str, version: int, e: dict[str, Any]) -> None:
    _order(rows, key)["state"] = "waiting_retry"


def _closed(state: str) -> Fold:
    def fold_closed(rows: BatchRows, key: str, version: int, e: dict[str, Any]) -> None:
        row = _order(rows, key)
        row["state"] = state
        row["released"] = e["released"]
        row["charged"] = e.get("charged", 0)
        row["reason"] = (
            "no_sms" if state == "timed_out" else e.get("reason") or e.get("complaint"))
        row["closed_at"] = z(e["timestamp"])
        row["deadline"] = None
        if row["provider"] is not None and rows.count_stats:
            stats = _group(rows, row)
            stats["revenue"] += row["charged"]
            if state == "refunded":
                stats["refunded"] += 1

    return fold_closed


# Accounts.

def _opened(rows: BatchRows, key: str, version: int, e: dict[str, Any]) -> None:
    rows.balances.put({
        "id": key, "account": e["account"], "currency": e["currency"],
        "eu_consumer": int(e["eu_consumer"]), "status": "open", "deposited": 0,
        "available": 0, "held": 0, "spent": 0, "refund_pending": 0, "refunded_out": 0,
        "forfeited": 0,
        "completed_purchase_seq": 0, "last_accepted_seq": 0, "waiver_at": None,
        "waiver_trigger": None, "stale": 1,
    })


def _account_fold(change: Callable[[BatchRows, Row, int, dict[str, Any]], None]) -> Fold:
    def fold_account(rows: BatchRows, key: str, version: int, e: dict[str, Any]) -> None:
        row = rows.balances.get(key)
        assert row is not None, f"balance row {key} missing"
        row["stale"] = 1
        rows.balances.touch(row)
        change(rows, row, version, e)

    return fold_account


def _move(row: Row, source: str | None, target: str | None, amount: int) -> None:
    if source:
        row[source] -= amount
    if target:
        row[target] += amount


def _deposited(rows: BatchRows, row: Row, version: int, e: dict[str, Any]) -> None:
    _move(row, None, "deposited", e["amount"])
    _move(row, None, "available", e["amount"])
    rows.deposits.put({
        "account_id": row["id"], "deposit": e["deposit"], "account": row["account"],
        "method": e["method"], "amount": e["amount"], "at": z(e["timestamp"]),
        "seq": version, "refunded": 0, "refundable": 0, "blocked_by": "",
    })


def _held(rows: BatchRows, row: Row, version: int, e: dict[str, Any]) -> None:
    _move(row, "available", "held", e["amount"])
    row["last_accepted_seq"] = version


def _captured(rows: BatchRows, row: Row, version: int, e: dict[str, Any]) -> None:
    _move(row, "held", "spent", e["captured"])
    _move(row, "held", "available", e["released"])
    row["completed_purchase_seq"] = max(row["completed_purchase_seq"], e["purchased_seq"])


def _allocate(rows: BatchRows, row: Row, allocations: list[list[Any]], sign: int) -> None:
    for deposit, amount in allocations:
        record = rows.deposits.get(row["id"], deposit)
        assert record is not None, f"deposit {deposit} not loaded"
        record["refunded"] += sign * amount
        rows.deposits.touch(record)


def _reserved(rows: BatchRows, row: Row, version: int, e: dict[str, Any]) -> None:
    _move(row, "available", "refund_pending", e["amount"])
    _allocate(rows, row, e["allocations"], +1)


def _refund_released(rows: BatchRows, row: Row, version: int, e: dict[str, Any]) -> None:
    _move(row, "refund_pending", "available", e["amount"])
    _allocate(rows, row, e["allocations"], -1)


def _account_closed(rows: BatchRows, row: Row, version: int, e: dict[str, Any]) -> None:
    _move(row, "available", "forfeited", e["forfeited"])
    row["status"] = "closed"


_ACCOUNT_CHANGES: dict[type, Callable[[BatchRows, Row, int, dict[str, Any]], None]] = {
    Account.Registered: lambda rows, row, v, e: row.update(eu_consumer=int(e["eu_consumer"])),
    Account.WaiverRecorded: lambda rows, row, v, e: row.update(
        waiver_at=z(e["timestamp"]), waiver_trigger=e["trigger"]),
    Account.Deposited: _deposited,
    Account.FundsHeld: _held,
    Account.HoldCaptured: _captured,
    Account.HoldReleased: lambda rows, row, v, e: _move(row, "held", "available", e["amount"]),
    Account.RefundReserved: _reserved,
    Account.RefundPaidOut: lambda rows, row, v, e: _move(
        row, "refund_pending", "refunded_out", e["amount"]),
    Account.RefundReleased: _refund_released,
    Account.Blocked: lambda rows, row, v, e: row.update(status="blocked"),
    Account.Closed: _account_closed,
}


# Refund requests.

def _decided(rows: BatchRows, key: str, version: int, e: dict[str, Any]) -> None:
    rows.refunds.put({
        "id": key, "request": e["request"], "account": e["account"], "status": e["status"],
        "reason": e["reason"], "requested": e["requested"], "amount": e["amount"], "fee": 0,
        "rules": ",".join(e["rules"]), "policy": e["policy"],
        "requested_at": z(e["timestamp"]), "details_due": z(e["details_due"]),
        "review_due": z(e["review_due"]), "payout_due": z(e["payout_due"]), "paid_at": None,
        "overdue": 0,
    })


def _refund_fold(change: Callable[[Row, dict[str, Any]], None]) -> Fold:
    def fold_refund(rows: BatchRows, key: str, version: int, e: dict[str, Any]) -> None:
        row = rows.refunds.get(key)
        assert row is not None, f"refund row {key} missing"
        rows.refunds.touch(row)
        change(row, e)

    return fold_refund


def _details_provided(row: Row, e: dict[str, Any]) -> None:
    rules = [r for r in row["rules"].split(",") if r and r != "request.details_missing"]
    row.update(status="approved", details_due=None, rules=",".join(rules))


def _expired(row: Row, e: dict[str, Any]) -> None:
    rules = [r for r in row["rules"].split(",") if r]
    rules += [r for r in e["rules"] if r not in rules]
    row.update(status="expired", amount=0, details_due=None, rules=",".join(rules))


def _withdrawn(row: Row, e: dict[str, Any]) -> None:
    rules = [r for r in row["rules"].split(",") if r]
    rules += [r for r in e["rules"] if r not in rules]
    row.update(status="rejected", amount=0, details_due=None, rules=",".join(rules))


FOLDS: dict[str, Fold] = {
    get_topic(Order.Requested): _order_created,
    get_topic(Order.Rejected): _order_created,
    get_topic(Order.Issued): _issued,
    get_topic(Order.SmsReceived): _sms_received,
    get_topic(Order.AnotherSmsRequested): _another_sms,
    get_topic(Order.Failed): _closed("failed"),
    get_topic(Order.Completed): _closed("completed"),
    get_topic(Order.Cancelled): _closed("cancelled"),
    get_topic(Order.TimedOut): _closed("timed_out"),
    get_topic(Order.Refunded): _closed("refunded"),
    get_topic(Account.Opened): _opened,
    **{get_topic(cls): _account_fold(change) for cls, change in _ACCOUNT_CHANGES.items()},
    get_topic(RefundRequest.Decided): _decided,
    get_topic(RefundRequest.DetailsProvided): _refund_fold(_details_provided),
    get_topic(RefundRequest.Expired): _refund_fold(_expired),
    get_topic(RefundRequest.Withdrawn): _refund_fold(_withdrawn),
    get_topic(RefundRequest.Paid): _refund_fold(
        lambda row, e: row.update(status="paid", fee=e["fee"], paid_at=z(e["timestamp"]))),
}

TABLE_OF_TOPIC: dict[str, str] = {
    topic: "orders" if ":Order." in topic else "balances" if ":Account." in topic else "refunds"
    for topic in FOLDS
}
