"""Folds of account events into `balances` and `deposits` rows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eventsourcing.utils import get_topic

from smsledger.domain.account import Account

from .folding import Fold, z
from .rows import BatchRows, Row


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
        "seq": version, "refunded": 0, "refundable": 0, "blocked_by": [],
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


def _capture_reversed(rows: BatchRows, row: Row, version: int, e: dict[str, Any]) -> None:
    _move(row, "spent", "available", e["amount"])
    row["completed_purchase_seq"] = e["completed_purchase_seq"]


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
    Account.CaptureReversed: _capture_reversed,
    Account.RefundReserved: _reserved,
    Account.RefundPaidOut: lambda rows, row, v, e: _move(
        row, "refund_pending", "refunded_out", e["amount"]),
    Account.RefundReleased: _refund_released,
    Account.Blocked: lambda rows, row, v, e: row.update(status="blocked"),
    Account.Closed: _account_closed,
    Account.Forfeited: lambda rows, row, v, e: _move(row, "available", "forfeited", e["amount"]),
}


ACCOUNT_FOLDS: dict[str, Fold] = {
    get_topic(Account.Opened): _opened,
    **{get_topic(cls): _account_fold(change) for cls, change in _ACCOUNT_CHANGES.items()},
}
