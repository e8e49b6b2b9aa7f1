"""`smsledger audit`: verify the hash chain and every event's bytes, check the journal,
replay the whole log, re-derive every balance, check the money invariant, and compare the
read models with a rebuild made from scratch. A log altered by hand is reported, never
folded into a crash: an aggregate whose versions have a gap or whose events cannot be read
is named and left out of the money checks.

The replay reads the log aggregate by aggregate, in the primary key's order, and keeps one
aggregate in memory at a time; what the checks need of all of them goes to a scratch file
(see `scratch`), so the audit's memory does not grow with the log."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.persistence import MapperDeserialisationError, StoredEvent

from smsledger.infra.audit import log_reads
from smsledger.infra.audit.chain import (
    ChainReport,
    aggregate_name,
    describe,
    event_columns,
    originator_uuid,
    verify_chain,
)
from smsledger.infra.audit.journal import check_journal, check_policies
from smsledger.infra.audit.money import MoneyCheck, compare_balances
from smsledger.infra.audit.rebuilt import compare_tables, copy_live_tables, rebuild
from smsledger.infra.audit.scratch import PAGE, Scratch, scratch
from smsledger.infra.bootstrap import Ledger
from smsledger.infra.stores.chain import DigestRef, state_bytes
from smsledger.infra.stores.transcoding import UnknownTopicError


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


@dataclass
class _Folded:
    """One aggregate replayed so far, from the rows of one originator id as stored."""

    stored_id: Any
    originator: UUID | None = None
    current: Any = None
    position: int = 0
    policies: set[str] = field(default_factory=set)
    # An event out of version order, out of log order or unreadable: replayed again.
    broken: bool = False


class _Replay:
    """Walks the log in (originator id, version) order. An aggregate whose events, in that
    order, have consecutive versions at rising positions has them in the same order in the
    log: it is folded as it comes. Any other is replayed again in log order, as the events
    were written, so that what is reported is the first event out of place there (a
    version swapped with a later one comes first in the log, not in the key's order)."""

    def __init__(self, ledger: Ledger, report: AuditReport, up_to: int,
                 take: Callable[[Any], None]) -> None:
        self.database, self.recorder = ledger.opened.database, ledger.opened.recorder
        self.mapper = ledger.opened.mapper
        self.report, self.up_to, self.take = report, up_to, take
        self.folded: _Folded | None = None

    def row(self, row: tuple[Any, ...]) -> None:
        folded = self.folded
        if folded is None or row[1] != folded.stored_id:
            self.end()
            folded = self.folded = _Folded(row[1], originator_uuid(row[1]))
            folded.broken = folded.originator in self.report.unreadable
        position, version, topic, state = row[0], row[2], row[3], row[4]
        if folded.broken or folded.originator is None or not isinstance(version, int) or (
            not isinstance(topic, str) or state is None
        ):
            return  # columns not an event's: reported by the chain's pass
        if position < folded.position:
            folded.broken = True
            return
        columns = (folded.originator, version, topic, state_bytes(state))
        folded.broken = self._step(folded, position, columns) is not None

    def end(self) -> None:
        """The aggregate walked so far is complete."""
        folded, self.folded = self.folded, None
        if folded is None or folded.originator is None:
            return
        if folded.broken:
            folded = self._again(folded)
        if folded is not None and folded.current is not None:
            self.report.policies |= folded.policies
            self.take(folded.current)

    def _again(self, broken: _Folded) -> _Folded | None:
        originator = broken.originator
        if originator is None or originator in self.report.unreadable:
            return None
        folded = _Folded(broken.stored_id)
        for row in log_reads.events_in_log_order(self.database, self.recorder,
                                                 broken.stored_id, self.up_to):
            columns = event_columns(row)
            problem = None if columns is None else self._step(folded, row[0], columns)
            if problem is not None:  # the decisions folded before it still name policies
                self.report.policies |= folded.policies
                self.report.unreadable.add(originator)
                self.report.problems.append(
                    f"{aggregate_name(self.recorder, originator)}: {problem}")
                return None
        return folded

    def _step(self, folded: _Folded, position: int,
              columns: tuple[UUID, int, str, bytes]) -> str | None:
        """Apply one event; what is wrong with it, if it cannot be."""
        version = columns[1]
        expected = 1 if folded.current is None else folded.current.version + 1
        if version != expected:
            return _version_problem(expected, version)
        try:
            event = self.mapper.to_domain_event(StoredEvent(*columns))
            folded.current = event.mutate(folded.current)
        except (UnknownTopicError, MapperDeserialisationError) as error:
            return f"event at position {position} cannot be read: {error}"
        except Exception as error:  # an altered event's fields may break any apply()
            return (f"event at position {position} cannot be applied"
                    f" ({type(error).__name__}: {error})")
        folded.position = position
        policy = getattr(event, "policy", None)
        if policy:
            folded.policies.add(policy)
        return None


def replay(
    ledger: Ledger, report: AuditReport, take: Callable[[Any], None], up_to: int,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Every aggregate of the log up to position `up_to`, rebuilt from its events and
    handed to `take` when complete; an event out of version order or unreadable is
    reported and its aggregate set aside."""
    walk = _Replay(ledger, report, up_to, take)
    after = None
    while True:
        rows = log_reads.events_by_aggregate(
            ledger.opened.database, ledger.opened.recorder, after, up_to, PAGE)
        if not rows:
            break
        for row in rows:
            walk.row(row)
        report.events += len(rows)
        after = (rows[-1][1], rows[-1][2])
        if progress is not None:
            progress(report.events)
    walk.end()


def _version_problem(expected: int, version: int) -> str:
    if version > expected:
        missing = f"version {expected}" if version == expected + 1 else (
            f"versions {expected}-{version - 1}")
        return (f"version {version} follows version {expected - 1}: {missing} missing"
                " (events removed, or versions renumbered)")
    return (f"version {version} follows version {expected - 1}: versions out of order"
            " (swapped or duplicated)")


def check_money(ledger: Ledger, report: AuditReport, into: Scratch, up_to: int,
                progress: Callable[[int], None] | None = None) -> None:
    """Replay the log up to position `up_to` and check every account and order."""
    money = MoneyCheck(into)
    replay(ledger, report, money.take, up_to, progress)
    report.problems.extend(money.finish())
    report.accounts, report.orders, report.totals = money.accounts, money.orders, money.totals


def compare_read_models(ledger: Ledger, report: AuditReport, clock: Any,
                        into: Scratch) -> None:
    """The balances replayed against the projected ones, and every read model against a
    rebuild from the log."""
    copy_live_tables(ledger.opened.database, into)
    report.problems.extend(compare_balances(into, report.unreadable))
    failed = rebuild(ledger.opened.recorder, clock, into)
    if failed is not None:
        report.problems.append(failed)
        return
    report.problems.extend(compare_tables(into))


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
    with scratch() as into:
        check_money(ledger, report, into, report.chain.last_position, progress)
        # Counted as the chain's pass counts them, rows that are not an event's included
        # (a NULL in its key keeps a row out of the walk by key).
        report.events = report.chain.events
        if clock is not None:
            report.problems.extend(check_policies(clock.policy, report.policies))
            compare_read_models(ledger, report, clock, into)
    return report
