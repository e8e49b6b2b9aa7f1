"""The commands on one ledger, parsers and actions: demo, ingest, project, query, history,
audit."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from smsledger.infra.cli.inputs import open_input
from smsledger.infra.cli.policy_options import add_cancel_lock
from smsledger.infra.cli.query_args import add_query_options, query_filters, write_rows
from smsledger.infra.cli.render import end_progress, print_json, print_table, progress_printer
from smsledger.infra.settings import DEFAULT_POLICY, Settings
from smsledger.infra.stores.urls import masked
from smsledger.projections.queries import QUERIES

if TYPE_CHECKING:
    from smsledger.infra.bootstrap import Ledger

# Modules that open stores, decide or replay are imported by the commands that need them:
# `smsledger --help` and a mistyped option load none of them.

TIME_HELP = ("Event time is kept per account; clock.tick settles what lies more than "
             "SMSLEDGER_ALLOWED_LATENESS (default 5m) behind it; a line more than "
             "SMSLEDGER_MAX_FUTURE (default 1d) ahead of the wall clock is dead-lettered "
             "(future).")


def add_ledger_commands(sub: Any, common: argparse.ArgumentParser, command: Any) -> None:
    p = sub.add_parser("demo", parents=[common], help="simulate traffic end to end on SQLite")
    p.add_argument("--accounts", type=int, default=200)
    p.add_argument("--days", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--emit", metavar="FILE", help="also write the messages as JSONL")
    p.add_argument("--bad-input", type=float, default=0.01, metavar="SHARE",
                   help="share of hostile lines mixed in (default 0.01)")
    add_cancel_lock(p)

    p = sub.add_parser(
        "ingest", parents=[common], help="process inbound messages (JSONL)",
        description="Apply every line once. At the end, every deadline before the watermark "
                    "is settled and what is still parked is dead-lettered. " + TIME_HELP,
        epilog="Lines longer than SMSLEDGER_MAX_LINE_BYTES (default 65536) are dead-lettered"
        " as line_too_long. A second ingest into the same store waits for the first.")
    p.add_argument("file", metavar="FILE|-")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    add_cancel_lock(p)
    p.add_argument("--json", action="store_true", help="the summary as one JSON object")

    p = sub.add_parser("project", parents=[common], help="catch projections up, or rebuild")
    p.add_argument("--rebuild", action="store_true",
                   help="empty the read models and fold the whole log again, in one transaction")

    p = sub.add_parser("query", parents=[common],
                       help="read a projection (of an existing store; cells are cut on a "
                       "terminal only)")
    p.add_argument("view", choices=sorted(QUERIES))
    add_query_options(p)

    p = sub.add_parser("history", parents=[common], help="an order's or account's events")
    p.add_argument("id")
    p.add_argument("--as-of", metavar="T",
                   help="RFC 3339 time with its UTC offset, e.g. 2026-06-01T10:00:00Z")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("audit", parents=[common],
                       help="verify the hash chain, replay everything and check invariants")
    p.add_argument("--against", metavar="DIGEST",
                   help="a published digest (HEX or POSITION:HEX) the log must still contain")
    p.add_argument("--json", action="store_true", help="the report as one JSON object")

    command("ingest")(cmd_ingest)
    command("project")(cmd_project)
    command("query")(cmd_query)
    command("history")(cmd_history)
    command("audit")(cmd_audit)
    command("demo")(cmd_demo)


@contextmanager
def opened(settings: Settings, *, create: bool = False) -> Iterator[Ledger]:
    """The ledger of the settings' store; only writers (`create`) may make a new one."""
    from smsledger.infra.bootstrap import bootstrap

    ledger = bootstrap(settings, create=create)
    try:
        yield ledger
    finally:
        ledger.close()


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from smsledger.consumers.ingest import bounded_lines, ingest_lines
    from smsledger.infra.alongside import projecting_alongside, worth_it
    from smsledger.infra.stores.writer_lock import sole_ingest

    source = args.file
    def waiting() -> None:
        print("smsledger ingest: another ingest into this store is running; waiting for it"
              " to finish", file=sys.stderr, flush=True)

    with open_input(source) as stream, opened(settings, create=True) as ledger, sole_ingest(
        ledger.opened.database, waiting
    ):
        size = os.path.getsize(source) if source != "-" else 0
        share = (lambda: stream.tell() / size) if size and stream.seekable() else None
        report = progress_printer("ingesting", fraction=share) if not args.quiet else None
        alongside = worth_it(settings.store, size, ledger.opened.recorder.last_notification_id())
        with projecting_alongside(settings.store, ledger.policy.name, enabled=alongside):
            counts = ingest_lines(
                ledger.engine(), bounded_lines(stream, settings.max_line_bytes), source=source,
                batch_size=settings.batch_size, progress=report,
                max_line_bytes=settings.max_line_bytes,
            )
        ledger.catch_up()
        if report is not None:
            end_progress()
    if args.json:
        print_json(counts.as_dict())
    else:
        print(", ".join(f"{k}: {v}" for k, v in counts.as_dict().items()))
    return 0


def cmd_project(args: argparse.Namespace, settings: Settings) -> int:
    from smsledger.projections import runner

    with opened(settings) as ledger:
        events = ledger.opened.recorder.last_notification_id()
        todo = events if args.rebuild else events - runner.position(ledger.opened.database)
        report = progress_printer("rebuilding" if args.rebuild else "projecting", total=todo)
        folded = ledger.rebuild(report) if args.rebuild else ledger.catch_up(report)
        end_progress()
    print(f"{'rebuilt from' if args.rebuild else 'caught up with'} {folded} events")
    return 0


def cmd_query(args: argparse.Namespace, settings: Settings) -> int:
    from smsledger.projections.queries import run_query

    filters = query_filters(args)
    with opened(settings) as ledger:
        ledger.catch_up()
        rows = run_query(ledger.opened.database, args.view, extras=not (args.json or args.csv),
                         **filters)
    write_rows(args.view, rows, args)
    return 0


def cmd_history(args: argparse.Namespace, settings: Settings) -> int:
    from smsledger.infra.cli import history as history_mod

    as_of = history_mod.as_of_time(args.as_of) if args.as_of else None
    with opened(settings) as ledger:
        kind, _, events = history_mod.find_events(ledger.opened, args.id)
        history_mod.require_existed(kind, args.id, events, as_of)
        rows = history_mod.event_rows(events, as_of)
        state = history_mod.state_as_of(events, as_of)
    if args.json:
        print_json({"kind": kind, "events": rows, "state": state})
        return 0
    print(f"{kind} {args.id}" + (f" as of {args.as_of}" if as_of else ""))
    print_table(history_mod.table_rows(rows), max_width=120)
    print("\nstate:")
    for key, value in state.items():
        print(f"  {key:<16}{value}")
    return 0


def cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    from smsledger.infra.audit.replay import audit
    from smsledger.infra.cli.chain_actions import audit_chain_lines, digest_arg

    against = digest_arg(args.against) if args.against else None
    with opened(settings) as ledger:
        events = ledger.opened.recorder.last_notification_id()
        report = audit(ledger, progress_printer("replaying", total=events), against=against)
        end_progress()
    if args.json:
        chain = report.chain
        print_json({"events": report.events, "accounts": report.accounts,
                    "orders": report.orders, "totals": report.totals, "clean": report.clean,
                    "problems": report.problems,
                    "chain": None if chain is None else {
                        "events": chain.events, "head_position": chain.last_position,
                        "head_digest": chain.head_digest.hex(),
                        "original_from": chain.original_from, "intact": chain.intact}})
        return 0 if report.clean else 1
    print("\n".join(audit_chain_lines(report)))
    print(f"events replayed: {report.events}, accounts: {report.accounts}, "
          f"orders: {report.orders}")
    print("totals: " + ", ".join(f"{k} {v}" for k, v in report.totals.items()))
    if report.clean:
        print("audit clean: the hash chain and every event's bytes verify, every balance"
              " re-derived, money invariant holds, journal consistent, read models equal a"
              " rebuild")
        return 0
    print(f"audit FAILED with {len(report.problems)} problems:")
    for problem in report.problems:
        print(f"  - {problem}")
    return 1


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from smsledger.infra.cli.demo import format_summary, run_demo
    from smsledger.infra.simulation.config import SimulationConfig

    config = SimulationConfig(accounts=args.accounts, days=args.days, seed=args.seed,
                              bad_input_share=args.bad_input)
    store = args.store or None
    policy = settings.policy or DEFAULT_POLICY
    summary = run_demo(config, policy=policy, store=store, emit=args.emit,
                       cancel_lock=settings.cancel_lock, policy_dir=settings.policy_dir)
    print(f"policy {policy}, seed {args.seed}, {args.accounts} accounts, "
          f"{args.days} day(s), store {masked(store or 'sqlite:///./smsledger-demo.db')}")
    print(format_summary(summary))
    return 0 if summary.audit.clean else 1
