"""Folds of refund-request events into `refunds` rows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eventsourcing.utils import get_topic

from smsledger.domain.refund import RefundRequest

from .folding import Fold, z
from .rows import BatchRows, Row


def _decided(rows: BatchRows, key: str, version: int, e: dict[str, Any]) -> None:
    rows.refunds.put({
        "id": key, "request": e["request"], "account": e["account"], "status": e["status"],
        "reason": e["reason"], "currency": e.get("currency"), "requested": e["requested"],
        "amount": e["amount"], "fee": 0, "rules": list(e["rules"]), "policy": e["policy"],
        "requested_at": z(e["timestamp"]), "details_due": z(e["details_due"]),
        "review_due": z(e["review_due"]), "payout_due": z(e["payout_due"]), "paid_at": None,
        "overdue": 0, "route": e.get("route"),
    })


def _refund_fold(change: Callable[[Row, dict[str, Any]], None]) -> Fold:
    def fold_refund(rows: BatchRows, key: str, version: int, e: dict[str, Any]) -> None:
        row = rows.refunds.get(key)
        assert row is not None, f"refund row {key} missing"
        rows.refunds.touch(row)
        change(row, e)

    return fold_refund


def _details_provided(row: Row, e: dict[str, Any]) -> None:
    rules = [r for r in row["rules"] if r != "request.details_missing"]
    row.update(status="approved", details_due=None, rules=rules)


def _expired(row: Row, e: dict[str, Any]) -> None:
    rules = list(row["rules"])
    rules += [r for r in e["rules"] if r not in rules]
    row.update(status="expired", amount=0, details_due=None, rules=rules)


def _withdrawn(row: Row, e: dict[str, Any]) -> None:
    rules = list(row["rules"])
    rules += [r for r in e["rules"] if r not in rules]
    row.update(status="rejected", amount=0, details_due=None, rules=rules)


REFUND_FOLDS: dict[str, Fold] = {
    get_topic(RefundRequest.Extended): _refund_fold(
        lambda row, e: row.update(payout_due=z(e["payout_due"]))),
    get_topic(RefundRequest.Decided): _decided,
    get_topic(RefundRequest.DetailsProvided): _refund_fold(_details_provided),
    get_topic(RefundRequest.Expired): _refund_fold(_expired),
    get_topic(RefundRequest.Withdrawn): _refund_fold(_withdrawn),
    get_topic(RefundRequest.Paid): _refund_fold(
        lambda row, e: row.update(status="paid", fee=e["fee"], paid_at=z(e["timestamp"]))),
}
