"""`smsledger audit`: verify the hash chain and every event's bytes, check the journal,
replay the whole log, re-derive every balance, check the money invariant, and compare the
read models with a rebuild made from scratch. A log altered by hand is reported, never
folded into a crash: an aggregate whose versions have a gap or whose events cannot be read
is named and left out of the money checks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.persistence import MapperDeserialisationError, StoredEvent
from eventsourcing.sqlite import SQLiteDatastore

from smsledger.domain import ids
from smsledger.domain.account import Account
from smsledger.domain.money import BUCKETS
from smsledger.domain.order import Order
from smsledger.infra.audit.chain import (
    ChainReport,
    aggregate_name,
    describe,
    event_columns,
    verify_chain,
)
from smsledger.infra.audit.journal import check_journal, check_policies
from smsledger.infra.bootstrap import Ledger
from smsledger.infra.stores.chain import DigestRef
from smsledger.infra.stores.sqlite_database import SQLiteDatabase
from smsledger.infra.stores.transcoding import UnknownTopicError
from smsledger.projections import runner
from smsledger.projections.columns import decode, decoders
from smsledger.projections.queries import run_query
from smsledger.projections.tables import TABLES, select_all_statement


@dataclass
class AuditReport:
    events: int = 0
    accounts: int = 0
    orders: int = 0
    totals: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    chain: ChainReport | None = None
    # Aggregates whose events could not all be replayed: left out of the money checks.
    unreadable: set[UUID] = field(default_factory=set)
    policies: set[str] = field(default_factory=set)  # policy@version named by decisions

    @property
    def clean(self) -> bool:
        return not self.problems


def replay(
    ledger: Ledger, report: AuditReport, progress: Callable[[int], None] | None = None
) -> dict[UUID, Any]:
    """Every aggregate, rebuilt from its events in notification order; an event out of
    version order or unreadable is reported and its aggregate set aside."""
    recorder, mapper = ledger.opened.recorder, ledger.opened.mapper
    aggregates: dict[UUID, Any] = {}
    after = 0
    while True:
        rows = recorder.select_chain_after(after, 5000)
        if not rows:
            return aggregates
        for row in rows:
            columns = event_columns(row)
            if columns is not None:  # else reported by the chain's pass
                _apply(recorder, mapper, row[0], columns, aggregates, report)
        report.events += len(rows)
        after = rows[-1][0]
        if progress is not None:
            progress(report.events)


def _apply(
    recorder: Any, mapper: Any, position: int, columns: tuple[UUID, int, str, bytes],
    aggregates: dict[UUID, Any], report: AuditReport,
) -> None:
    originator, version = columns[0], columns[1]
    if originator in report.unreadable:
        return
    stored = StoredEvent(*columns)
    current = aggregates.get(originator)
    expected = 1 if current is None else current.version + 1
    problem = None
    if version != expected:
        problem = _version_problem(expected, version)
    else:
        try:
            event = mapper.to_domain_event(stored)
            aggregates[originator] = event.mutate(current)
            policy = getattr(event, "policy", None)
            if policy:
                report.policies.add(policy)
        except (UnknownTopicError, MapperDeserialisationError) as error:
            problem = f"event at position {position} cannot be read: {error}"
        except Exception as error:  # an altered event's fields may break any apply()
            problem = (f"event at position {position} cannot be applied"
                       f" ({type(error).__name__}: {error})")
    if problem is not None:
        report.unreadable.add(originator)
        aggregates.pop(originator, None)
        report.problems.append(f"{aggregate_name(recorder, originator)}: {problem}")


def _version_problem(expected: int, version: int) -> str:
    if version > expected:
        missing = f"version {expected}" if version == expected + 1 else (
            f"versions {expected}-{version - 1}")
        return (f"version {version} follows version {expected - 1}: {missing} missing"
                " (events removed, or versions renumbered)")
    return (f"version {version} follows version {expected - 1}: versions out of order"
            " (swapped or duplicated)")


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
        if want is None and ids.account_id(account) in report.unreadable:
            continue  # reported already: its events could not be replayed
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
    try:
        runner.rebuild(scratch, ledger.opened.recorder, ledger.clock())
    except Exception as error:  # folds of an altered log may fail anywhere: report it
        report.problems.append(
            f"projections: the read models cannot be rebuilt from this log"
            f" ({type(error).__name__}: {error})")
        scratch.datastore.close()
        return
    live_db = ledger.opened.database
    for table, (columns, key) in TABLES.items():
        names = [c for c, _ in columns]
        select = select_all_statement(table)
        # Each side in the folds' form: a PostgreSQL store returns typed values.
        live = [decode(decoders(table, live_db.dialect), r) for r in live_db.query(select)]
        rebuilt = [decode(decoders(table, "sqlite"), r) for r in scratch.query(select)]
        if live != rebuilt:
            report.problems.append(_table_difference(table, names, key, live, rebuilt))
    scratch.datastore.close()


def _table_difference(
    table: str, names: list[str], key: tuple[str, ...], live: list[Any], rebuilt: list[Any]
) -> str:
    positions = [names.index(k) for k in key]
    by_key = {tuple(row[i] for i in positions): row for row in rebuilt}
    live_keys = {tuple(row[i] for i in positions) for row in live}
    differing = [row for row in live if by_key.get(tuple(row[i] for i in positions)) != row]
    missing = [k for k in by_key if k not in live_keys]
    detail = ""
    if differing:
        row = differing[0]
        row_key = tuple(row[i] for i in positions)
        other = by_key.get(row_key)
        if other is None:
            detail = f"; row {'/'.join(map(str, row_key))} is not in the rebuild"
        else:
            columns = [f"{n} {a!r} (rebuilt {b!r})" for n, a, b in zip(names, row, other,
                                                                       strict=True) if a != b]
            detail = f"; row {'/'.join(map(str, row_key))}: {', '.join(columns[:3])}"
    elif missing:
        detail = f"; row {'/'.join(map(str, missing[0]))} is missing from the live table"
    return (f"projection {table}: {len(live)} rows live, {len(rebuilt)} rebuilt,"
            f" {len(differing) + len(missing)} differ{detail}")


def audit(
    ledger: Ledger, progress: Callable[[int], None] | None = None,
    against: DigestRef | None = None,
) -> AuditReport:
    report = AuditReport()
    recorder, database = ledger.opened.recorder, ledger.opened.database
    report.chain = verify_chain(recorder, database, against)
    report.problems.extend(describe(recorder, f) for f in report.chain.findings)
    if report.chain.failed > len(report.chain.findings):
        report.problems.append(
            f"chain: {report.chain.failed - len(report.chain.findings)} more positions do"
            " not verify")
    report.problems.extend(check_journal(database, report.chain.last_position))
    try:
        clock = ledger.clock()
    except ValueError as error:  # the clock names no known policy: reported above
        report.problems.append(f"ledger_clock: {error}; the read models are not compared")
        clock = None
    if clock is not None and report.chain.intact:
        ledger.catch_up()  # fold only a log that verifies
    elif clock is not None:
        report.problems.append("read models were not caught up: the log does not verify")
    aggregates = replay(ledger, report, progress)
    replayed = check_money(aggregates, report)
    if clock is not None:
        report.problems.extend(check_policies(clock.policy, report.policies))
        compare_balances(ledger, replayed, report)
        compare_with_rebuild(ledger, report)
    return report
