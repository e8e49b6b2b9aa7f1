"""Folds of order events into `orders` and `provider_stats` rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eventsourcing.utils import get_topic

from smsledger.domain.order import Order

from .folding import Fold, z
from .rows import BatchRows, Row


def _order_created(rows: BatchRows, key: str, version: int, e: dict[str, Any]) -> None:
    at = z(e["timestamp"])
    row = rows.orders.put({
        "id": key, "order": e["order"], "account": e["account"], "service": e["service"],
        "country": e["country"], "provider": None, "currency": e.get("currency"),
        "price": e["price"], "issued_price": None,
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


def _completion_reversed(rows: BatchRows, key: str, version: int, e: dict[str, Any]) -> None:
    row = _order(rows, key)
    row.update(state="refunded", charged=0, released=e["released"], reason=e["complaint"],
               closed_at=z(e["timestamp"]))
    if row["provider"] is not None and rows.count_stats:
        stats = _group(rows, row)
        stats["revenue"] -= e["reversed"]
        stats["refunded"] += 1


ORDER_FOLDS: dict[str, Fold] = {
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
    get_topic(Order.CompletionReversed): _completion_reversed,
}
