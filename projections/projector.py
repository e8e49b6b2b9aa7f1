"""Folding domain events into the rows of the read models (one batch at a time)."""

from __future__ import annotations

from typing import Any

from smsledger.domain.account import Account
from smsledger.domain.order import Order
from smsledger.domain.refund import RefundRequest

from .formats import iso, parse_iso
from .rows import Row, Rows

MONEY = ("deposited", "available", "held", "spent", "refund_pending", "refunded_out", "forfeited")
CLOSING = (Order.Failed, Order.Completed, Order.Cancelled, Order.TimedOut, Order.Refunded)


class BatchRows:
    """The rows a batch of events touches, and what must be re-derived afterwards."""

    def __init__(self) -> None:
        self.orders = Rows("orders")
        self.balances = Rows("balances")
        self.deposits = Rows("deposits")
        self.refunds = Rows("refunds")
        self.touched_accounts: set[str] = set()
        self.touched_groups: set[tuple[str, str, str]] = set()

    def preload(self, db: Any, cursor: Any, events: list[Any]) -> None:
        keys: dict[type, set[tuple[str]]] = {Order: set(), Account: set(), RefundRequest: set()}
        for event in events:
            owner = _owner(event)
            if owner is not None:
                keys[owner].add((event.originator_id.hex,))
        self.orders.load(db, cursor, keys[Order])
        self.balances.load(db, cursor, keys[Account])
        self.refunds.load(db, cursor, keys[RefundRequest])
        load_deposits(db, cursor, self.deposits, [k[0] for k in keys[Account]])

    def flush(self, db: Any, cursor: Any) -> None:
        for rows in (self.orders, self.balances, self.deposits, self.refunds):
            rows.flush(db, cursor)


def load_deposits(db: Any, cursor: Any, deposits: Rows, account_ids: list[str]) -> None:
    for start in range(0, len(account_ids), 500):
        chunk = account_ids[start : start + 500]
        deposits.load_where(db, cursor, f"account_id IN ({','.join('?' * len(chunk))})", chunk)


def _owner(event: Any) -> type | None:
    qualname = type(event).__qualname__
    for owner in (Order, Account, RefundRequest):
        if qualname.startswith(owner.__name__ + "."):
            return owner
    return None


def apply_event(rows: BatchRows, event: Any) -> None:
    owner = _owner(event)
    if owner is Order:
        _apply_order(rows, event)
    elif owner is Account:
        _apply_account(rows, event)
    elif owner is RefundRequest:
        _apply_refund(rows, event)


def _apply_order(rows: BatchRows, e: Any) -> None:
    key = e.originator_id.hex
    if isinstance(e, Order.Requested | Order.Rejected):
        row = rows.orders.put({
            "id": key, "order_ref": e.order, "account": e.account, "service": e.service,
            "country": e.country, "provider": None, "price": e.price, "issued_price": None,
            "charged": 0, "released": 0, "requested_at": iso(e.timestamp), "issued_at": None,
            "first_sms_at": None, "seconds_to_sms": None, "sms_count": 0, "closed_at": None,
            "state": "requested", "reason": None, "deadline": None, "policy": None,
        })
        if isinstance(e, Order.Requested):
            row.update(deadline=iso(e.deadline), policy=e.policy)
        else:
            row.update(state="rejected", reason=e.reason, closed_at=iso(e.timestamp))
        return
    row = rows.orders.get(key)
    assert row is not None, f"order row {key} missing for {type(e).__qualname__}"
    rows.orders.touch(row)
    if isinstance(e, Order.Issued):
        row.update(state="waiting_sms", provider=e.provider, issued_price=e.price,
                   issued_at=iso(e.timestamp), deadline=iso(e.deadline))
    elif isinstance(e, Order.SmsReceived):
        _sms_received(row, e)
    elif isinstance(e, Order.AnotherSmsRequested):
        row["state"] = "waiting_retry"
    elif isinstance(e, CLOSING):
        _order_closed(row, e)
    if row["provider"] is not None:
        rows.touched_groups.add((row["provider"], row["service"], row["country"]))


def _sms_received(row: Row, e: Order.SmsReceived) -> None:
    row["state"] = "sms_received"
    row["sms_count"] += 1
    if row["first_sms_at"] is None:
        row["first_sms_at"] = iso(e.timestamp)
        issued = parse_iso(row["issued_at"]) or e.timestamp
        row["seconds_to_sms"] = (e.timestamp - issued).total_seconds()


def _order_closed(row: Row, e: Any) -> None:
    states = {
        Order.Failed: "failed", Order.Completed: "completed", Order.Cancelled: "cancelled",
        Order.TimedOut: "timed_out", Order.Refunded: "refunded",
    }
    row["state"] = states[type(e)]
    row["released"] = e.released
    row["charged"] = getattr(e, "charged", 0)
    row["reason"] = getattr(e, "reason", None) or getattr(e, "complaint", None)
    if isinstance(e, Order.TimedOut):
        row["reason"] = "no_sms"
    row["closed_at"] = iso(e.timestamp)
    row["deadline"] = None


def _apply_account(rows: BatchRows, e: Any) -> None:
    key = e.originator_id.hex
    if isinstance(e, Account.Opened):
        rows.balances.put({
            "id": key, "account": e.account, "currency": e.currency,
            "eu_consumer": int(e.eu_consumer), "status": "open", **dict.fromkeys(MONEY, 0),
            "last_completed_seq": 0, "last_accepted_seq": 0, "waiver_at": None,
            "waiver_trigger": None,
        })
        rows.touched_accounts.add(key)
        return
    row = rows.balances.get(key)
    assert row is not None, f"balance row {key} missing for {type(e).__qualname__}"
    rows.balances.touch(row)
    rows.touched_accounts.add(key)
    handler = _ACCOUNT_HANDLERS.get(type(e))
    if handler is not None:
        handler(rows, row, e)


def _move(row: Row, source: str | None, target: str | None, amount: int) -> None:
    if source:
        row[source] -= amount
    if target:
        row[target] += amount


def _deposited(rows: BatchRows, row: Row, e: Any) -> None:
    _move(row, None, "deposited", e.amount)
    _move(row, None, "available", e.amount)
    rows.deposits.put({
        "account_id": row["id"], "deposit": e.deposit, "account": row["account"],
        "method": e.method, "amount": e.amount, "at": iso(e.timestamp),
        "seq": e.originator_version, "refunded": 0, "refundable": 0, "blocked_by": "",
    })


def _held(rows: BatchRows, row: Row, e: Any) -> None:
    _move(row, "available", "held", e.amount)
    row["last_accepted_seq"] = e.originator_version


def _captured(rows: BatchRows, row: Row, e: Any) -> None:
    _move(row, "held", "spent", e.captured)
    _move(row, "held", "available", e.released)
    row["last_completed_seq"] = e.originator_version


def _allocations(rows: BatchRows, row: Row, allocations: list[list[Any]], sign: int) -> None:
    for deposit, amount in allocations:
        record = rows.deposits.get(row["id"], deposit)
        assert record is not None, f"deposit {deposit} not loaded"
        record["refunded"] += sign * amount
        rows.deposits.touch(record)


def _reserved(rows: BatchRows, row: Row, e: Any) -> None:
    _move(row, "available", "refund_pending", e.amount)
    _allocations(rows, row, e.allocations, +1)


def _released_refund(rows: BatchRows, row: Row, e: Any) -> None:
    _move(row, "refund_pending", "available", e.amount)
    _allocations(rows, row, e.allocations, -1)


def _waiver(rows: BatchRows, row: Row, e: Any) -> None:
    row.update(waiver_at=iso(e.timestamp), waiver_trigger=e.trigger)


_ACCOUNT_HANDLERS: dict[type, Any] = {
    Account.Registered: lambda rows, row, e: row.update(eu_consumer=int(e.eu_consumer)),
    Account.WaiverRecorded: _waiver,
    Account.Deposited: _deposited,
    Account.FundsHeld: _held,
    Account.HoldCaptured: _captured,
    Account.HoldReleased: lambda rows, row, e: _move(row, "held", "available", e.amount),
    Account.RefundReserved: _reserved,
    Account.RefundPaidOut: lambda rows, row, e: _move(
        row, "refund_pending", "refunded_out", e.amount
    ),
    Account.RefundReleased: _released_refund,
    Account.Blocked: lambda rows, row, e: row.update(status="blocked"),
    Account.Closed: lambda rows, row, e: (
        _move(row, "available", "forfeited", e.forfeited), row.update(status="closed")
    ),
}


def _apply_refund(rows: BatchRows, e: Any) -> None:
    key = e.originator_id.hex
    if isinstance(e, RefundRequest.Decided):
        rows.refunds.put({
            "id": key, "request": e.request, "account": e.account, "status": e.status,
            "reason": e.reason, "requested": e.requested,
            "amount": e.amount, "fee": 0, "rules": ",".join(e.rules), "policy": e.policy,
            "requested_at": iso(e.timestamp), "details_due": iso(e.details_due),
            "review_due": iso(e.review_due), "payout_due": iso(e.payout_due), "paid_at": None,
            "overdue": 0,
        })
        return
    row = rows.refunds.get(key)
    assert row is not None, f"refund row {key} missing for {type(e).__qualname__}"
    rows.refunds.touch(row)
    if isinstance(e, RefundRequest.DetailsProvided):
        row.update(status="approved", details_due=None)
    elif isinstance(e, RefundRequest.Expired):
        rules = [r for r in row["rules"].split(",") if r] + list(e.rules)
        row.update(status="expired", amount=0, details_due=None, rules=",".join(rules))
    elif isinstance(e, RefundRequest.Paid):
        row.update(status="paid", fee=e.fee, paid_at=iso(e.timestamp))
