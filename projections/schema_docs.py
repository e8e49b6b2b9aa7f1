"""What every read-model table and column holds, in words: the README's schema section and
PostgreSQL's `COMMENT ON` are made from these (a test keeps the README equal to them)."""

from __future__ import annotations

from .tables import COLUMN_TYPES, TABLES, quoted

_MONEY = "minor units of the account's currency"
_GROUP = {"provider": "provider that issued the number", "service": "service the number is for",
          "country": "country of the number"}
_SERIES = {
    "period": "start of the hour (`…T13:00:00Z`) or the day (`YYYY-MM-DD`) of the requests",
    **_GROUP, "orders": "orders requested in the period", "rejected": "of them, rejected",
    "issued": "of them, issued a number", "sms_received": "of them, with a first SMS",
    "median_seconds_to_sms": "median seconds from issue to first SMS",
    "timed_out": "of them, timed out", "cancelled": "of them, cancelled",
    "refunded": "of them, refunded after a complaint",
    "released": f"held money released back to balances, {_MONEY}",
    "revenue": f"money captured, {_MONEY}",
}

TABLE_DOCS: dict[str, tuple[str, dict[str, str]]] = {
    "balances": ("One row per account: its money by bucket.", {
        "id": "account aggregate id (hex); key", "account": "external account id",
        "currency": "ISO 4217 code", "eu_consumer": "the account is an EU consumer",
        "status": "open, blocked or closed", "deposited": f"all deposits, {_MONEY}",
        "available": f"spendable balance, {_MONEY}", "held": f"held for open orders, {_MONEY}",
        "spent": f"captured for orders, {_MONEY}",
        "refund_pending": f"reserved for refund requests not paid yet, {_MONEY}",
        "refunded_out": f"refunds paid out, {_MONEY}",
        "forfeited": f"kept by the service on closure, {_MONEY}",
        "completed_purchase_seq": "account version of the last completed purchase",
        "last_accepted_seq": "account version of the last accepted order",
        "waiver_at": "when the EU withdrawal right was waived", "waiver_trigger":
        "what waived it (explicit, order)", "stale": "derived columns wait for a refresh",
    }),
    "orders": ("One row per number order.", {
        "id": "order aggregate id (hex); key", "order": "external order id",
        "account": "external account id", "state": "state of the order's state machine",
        **_GROUP, "currency": "the account's currency (NULL for an unknown account, or for"
        " an order recorded before this column)", "price": f"price asked, {_MONEY}",
        "issued_price": f"price at issue, {_MONEY}", "charged": f"captured, {_MONEY}",
        "released": f"released back to the balance, {_MONEY}",
        "reason": "why it ended (no_sms, a complaint, a refusal)",
        "requested_at": "when it was requested", "issued_at": "when the number was issued",
        "first_sms_at": "when the first SMS arrived",
        "seconds_to_sms": "seconds from issue to first SMS", "sms_count": "SMS received",
        "closed_at": "when it reached a final state", "deadline": "when it times out",
        "policy": "policy version it was accepted under (`name@version`)",
    }),
    "deposits": ("One row per deposit, with its refundability as of the ledger clock.", {
        "account_id": "account aggregate id (hex); key with deposit",
        "deposit": "external deposit id", "account": "external account id",
        "method": "payment method (card, crypto, …)", "amount": f"{_MONEY}",
        "at": "when it was received", "seq": "account version of the deposit",
        "refunded": f"refunded from it so far, {_MONEY}",
        "refundable": f"refundable from it now, {_MONEY}",
        "blocked_by": "JSON array of the rule ids that block its refund",
    }),
    "refunds": ("One row per refund request and its decision.", {
        "id": "refund aggregate id (hex); key", "request": "external request id",
        "account": "external account id", "status": "approved, awaiting_details, paid,"
        " rejected or expired", "reason": "reason given", "currency": "the account's"
        " currency (NULL for a request recorded before this column)",
        "requested": f"amount asked (NULL: everything refundable), {_MONEY}",
        "amount": f"amount granted, {_MONEY}", "fee": f"fee kept on payout, {_MONEY}",
        "rules": "JSON array of the rule ids behind the decision",
        "policy": "policy version that decided it", "requested_at": "when it was made",
        "details_due": "payment details due by", "review_due": "review due by",
        "payout_due": "payout due by", "paid_at": "when it was paid",
        "overdue": "open and past its payout (or review) due time",
        "route": "original_method or alternative",
    }),
    "provider_stats": ("One row per provider, service and country.", {
        **_GROUP, "orders": "numbers issued", "with_sms": "of them, with a first SMS",
        "sms_rate": "with_sms / orders", "median_seconds_to_sms":
        "median seconds from issue to first SMS", "refunded": "orders refunded",
        "refund_rate": "refunded / orders", "revenue": f"money captured, {_MONEY}",
        "stale": "rates and median wait for a refresh",
    }),
    "orders_hourly": ("Orders by the hour they were requested, per group.", _SERIES),
    "orders_daily": ("Orders by the day they were requested, per group.", _SERIES),
    "series_stale": ("Periods whose series rows wait for a refresh.", {
        "series": "orders_hourly or orders_daily", "period": "the period"}),
    "money_daily": ("Money flows of each day.", {
        "day": "date (UTC)", "flow": "deposit, refund or forfeited",
        "kind": "deposit method, refund status, or the forfeit's kind", "count": "movements",
        "amount": f"{_MONEY}", "fee": f"fees, {_MONEY}",
    }),
}

EVENTS_DOC = ("The event log joined to the read models (a view).", {
    "position": "position in the log", "account": "external account id",
    "order": "external order id (order events)", "request": "external refund request id"
    " (refund events)", "type": "event type (`Order.Issued`)", "at": "event time",
    "version": "aggregate version", "data": "the event's data (JSON)",
    "aggregate_id": "aggregate id (hex)",
})


def comment_statements() -> list[str]:
    """PostgreSQL's COMMENT ON for every table, column and the events view."""
    statements = []
    for table, (doc, columns) in TABLE_DOCS.items():
        statements += table_comments("TABLE", table, doc, columns)
    return statements + table_comments("VIEW", "events", *EVENTS_DOC)


def table_comments(kind: str, table: str, doc: str, columns: dict[str, str]) -> list[str]:
    """COMMENT ON for one table (or view, by `kind`) and each of its columns; the journal's
    documentation is rendered with it too."""
    return [f"COMMENT ON {kind} {table} IS {_literal(doc)}",
            *(f"COMMENT ON COLUMN {table}.{quoted(c)} IS {_literal(text)}"
              for c, text in columns.items())]


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def table_markdown(table: str, doc: str, rows: list[tuple[str, str, str, str]]) -> list[str]:
    """One table's README section: (column, SQLite type, PostgreSQL type, holds) rows."""
    return [f"**`{table}`** — {doc}", "", "| column | SQLite | PostgreSQL | holds |",
            "| --- | --- | --- | --- |",
            *(f"| `{name}` | {sqlite} | {postgres} | {text} |"
              for name, sqlite, postgres, text in rows), ""]


def schema_markdown() -> str:
    """The README's column-by-column tables (types as SQLite / PostgreSQL)."""
    lines = []
    for table, (doc, columns) in TABLE_DOCS.items():
        lines += table_markdown(table, doc, [
            (name, COLUMN_TYPES["sqlite"][kind].lower(), COLUMN_TYPES["postgres"][kind].lower(),
             columns[name]) for name, kind in TABLES[table][0]])
    doc, columns = EVENTS_DOC
    lines += [f"**`events`** — {doc}", "", "| column | holds |", "| --- | --- |"]
    lines += [f"| `{name}` | {text} |" for name, text in columns.items()]
    return "\n".join(lines) + "\n"
