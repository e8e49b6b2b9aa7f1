"""`smsledger audit`: verify the hash chain and every event's bytes, check the journal,
replay the whole log, re-derive every balance, check the money invariant, and compare the
read models with a rebuild made from scratch. A log altered by hand is reported, never
folded into a crash: an aggregate whose versions have a gap or whose events cannot be read
is named and left out of the money checks.

The replay reads the log aggregate by aggregate, in the primary key's order, and keeps one
aggregate in memory at a time (`walk`); what the checks need of all of them goes to a
scratch file (`scratch`), so the audit's memory does not grow with the log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from smsledger.infra.audit.chain import ChainReport, describe, verify_chain
from smsledger.infra.audit.journal import check_journal, check_policies
from smsledger.infra.audit.money import MoneyCheck, compare_balances
from smsledger.infra.audit.rebuilt import compare_tables, rebuild
from smsledger.infra.audit.report import AuditReport
from smsledger.infra.audit.scratch import Scratch, scratch
from smsledger.infra.audit.walk import LogTee, Replay
from smsledger.infra.bootstrap import Ledger
from smsledger.infra.stores.chain import DigestRef

__all__ = ["AuditReport", "audit", "replay"]


def replay(
    ledger: Ledger, report: AuditReport, take: Callable[[Any], None], up_to: int,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Every aggregate of the log up to position `up_to`, rebuilt from its events and
    handed to `take` when complete; an event out of version order or unreadable is
    reported and its aggregate set aside."""
    Replay(ledger.opened, report, up_to, take, progress).finish()


def _replay_and_compare(
    ledger: Ledger, report: AuditReport, chain: ChainReport, clock: Any, into: Scratch,
    progress: Callable[[int], None] | None,
) -> None:
    """Replay the log and check every account and order; with a clock, compare the
    balances replayed with the projected ones and every read model with a rebuild, which
    reads the log with the replay when every row of it is an event's."""
    money = MoneyCheck(into)
    walk = Replay(ledger.opened, report, chain.last_position, money.take, progress)
    failed = None
    if clock is not None:
        tee = LogTee(walk) if chain.malformed == 0 else None
        failed = rebuild(tee or ledger.opened.recorder, clock, into)
        if tee is not None and tee.error is not None:
            raise tee.error  # the replay's own failure, not the rebuild's
    walk.finish()
    report.problems.extend(money.finish())
    report.accounts, report.orders, report.totals = money.accounts, money.orders, money.totals
    if clock is None:
        return
    database = ledger.opened.database
    report.problems.extend(check_policies(clock.policy, report.policies))
    report.problems.extend(compare_balances(database, into, report.unreadable))
    report.problems.extend([failed] if failed is not None else compare_tables(database, into))


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
        _replay_and_compare(ledger, report, report.chain, clock, into, progress)
    # Counted as the chain's pass counts them, rows that are not an event's included (a
    # NULL in its key keeps a row out of the walk by key).
    report.events = report.chain.events
    return report
