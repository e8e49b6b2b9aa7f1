"""`smsledger audit`: replay the whole log, re-derive every balance, check the money
invariant, and compare the read models with a rebuild made from scratch."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.sqlite import SQLiteDatastore

from smsledger.domain.account import Account
from smsledger.domain.money import BUCKETS
from smsledger.domain.order import Order
from smsledger.infra.bootstrap import Ledger
from smsledger.infra.stores.sqlite_database import SQLiteDatabase
from smsledger.projections import runner
from smsledger.projections.queries import run_query
from smsledger.projections.tables import TABLES


@dataclass
class AuditReport:
    events: int = 0
    accounts: int = 0
    orders: int = 0
    totals: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.problems


def replay(ledger: Ledger, progress: Callable[[int], None] | None = None) -> tuple[
    dict[UUID, Any], int
]:
    """Every aggregate, rebuilt from its events in notification order."""
    recorder, mapper = ledger.opened.recorder, ledger.opened.mapper
    aggregates: dict[UUID, Any] = {}
    start, count = 1, 0
    while True:
        notifications = recorder.select_notifications(start=start, limit=5000)
        if not notifications:
            return aggregates, count
        for notification in notifications:
            event = mapper.to_domain_event(notification)
            aggregates[event.originator_id] = event.mutate(aggregates.get(event.originator_id))
        count += len(notifications)
        start = notifications[-1].id + 1
        if progress is not None:
            progress(count)


def check_money(aggregates: dict[UUID, Any], report: AuditReport) -> dict[str, dict[str, int]]:
    balances: dict[str, dict[str, int]] = {}
    orders = {a.order: a for a in aggregates.values() if isinstance(a, Order)}
    totals = dict.fromkeys(("deposited", *BUCKETS), 0)
    for aggregate in aggregates.values():
        if not isinstance(aggregate, Account):
            continue
        report.accounts += 1
        balances[aggregate.account] = aggregate.balances()
        for name, value in aggregate.balances().items():
            totals[name] += value
        report.problems.extend(
            f"account {aggregate.account}: {error}" for error in aggregate.invariant_errors()
        )
        for ref, amount in aggregate.holds.items():
            order = orders.get(ref)
            if order is None or order.is_final or order.price != amount:
                report.problems.append(
                    f"account {aggregate.account}: hold {amount} for {ref} has no open order"
                )
    for order in orders.values():
        report.orders += 1
        if order.charged + order.released not in (0, order.price):
            report.problems.append(f"order {order.order}: charged+released != price")
    report.totals = totals
    return balances


def compare_balances(
    ledger: Ledger, replayed: dict[str, dict[str, int]], report: AuditReport
) -> None:
    projected = {row["account"]: row for row in run_query(ledger.opened.database, "balances")}
    for account in sorted(set(projected) | set(replayed)):
        want, have = replayed.get(account), projected.get(account)
        if want is None or have is None:
            report.problems.append(f"balances: account {account} missing on one side")
            continue
        for name, value in want.items():
            if have[name] != value:
                report.problems.append(
                    f"balances: {account}.{name} projected {have[name]}, replayed {value}"
                )


def compare_with_rebuild(ledger: Ledger, report: AuditReport) -> None:
    scratch = SQLiteDatabase(SQLiteDatastore(f"file:audit{id(report)}?mode=memory&cache=shared"))
    runner.rebuild(scratch, ledger.opened.recorder, ledger.clock())
    for table, (columns, key) in TABLES.items():
        select = f"SELECT {', '.join(c for c, _ in columns)} FROM {table} ORDER BY {', '.join(key)}"
        live, rebuilt = ledger.opened.database.query(select), scratch.query(select)
        if live != rebuilt:
            differing = sum(1 for a, b in zip(live, rebuilt, strict=False) if a != b)
            report.problems.append(
                f"projection {table}: {len(live)} rows live, {len(rebuilt)} rebuilt,"
                f" {differing + abs(len(live) - len(rebuilt))} differ"
            )
    scratch.datastore.close()


def audit(ledger: Ledger, progress: Callable[[int], None] | None = None) -> AuditReport:
    report = AuditReport()
    ledger.catch_up()
    aggregates, report.events = replay(ledger, progress)
    replayed = check_money(aggregates, report)
    compare_balances(ledger, replayed, report)
    compare_with_rebuild(ledger, report)
    return report
