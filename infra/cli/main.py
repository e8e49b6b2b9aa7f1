"""The `smsledger` command line (DESIGN §9)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING

from smsledger.infra.cli.conventions import (
    add_store_options,
    add_version,
    check_store_url,
    output_closed,
    parse_arguments,
    remember_subparsers,
)
from smsledger.infra.cli.inputs import UsageError, open_input
from smsledger.infra.cli.logging_options import add_log_options, configure_from
from smsledger.infra.cli.policy_options import add_cancel_lock
from smsledger.infra.cli.query_args import add_query_options, query_filters, write_rows
from smsledger.infra.cli.render import end_progress, print_json, print_table, progress_printer
from smsledger.infra.settings import DEFAULT_POLICY, Settings, settings_from_env
from smsledger.infra.stores.urls import StoreError, masked
from smsledger.projections.queries import QUERIES

if TYPE_CHECKING:
    from smsledger.infra.bootstrap import Ledger

# Modules that open stores, decide or replay are imported by the commands that need them:
# `smsledger --help` and a mistyped option load none of them.

Command = Callable[[argparse.Namespace, Settings], int]
COMMANDS: dict[str, Command] = {}


def command(name: str) -> Callable[[Command], Command]:
    def register(func: Command) -> Command:
        COMMANDS[name] = func
        return func

    return register


@contextmanager
def opened(settings: Settings, *, create: bool = False) -> Iterator[Ledger]:
    """The ledger of the settings' store; only writers (`create`) may make a new one."""
    from smsledger.infra.bootstrap import bootstrap

    ledger = bootstrap(settings, create=create)
    try:
        yield ledger
    finally:
        ledger.close()


@command("ingest")
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


@command("project")
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


@command("query")
def cmd_query(args: argparse.Namespace, settings: Settings) -> int:
    from smsledger.projections.queries import run_query

    filters = query_filters(args)
    with opened(settings) as ledger:
        ledger.catch_up()
        rows = run_query(ledger.opened.database, args.view, extras=not (args.json or args.csv),
                         **filters)
    write_rows(args.view, rows, args)
    return 0


@command("history")
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


@command("audit")
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


@command("demo")
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


TIME_HELP = ("Event time is kept per account; clock.tick settles what lies more than "
             "SMSLEDGER_ALLOWED_LATENESS (default 5m) behind it; a line more than "
             "SMSLEDGER_MAX_FUTURE (default 1d) ahead of the wall clock is dead-lettered "
             "(future).")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    add_store_options(common)
    common.add_argument("--policy", metavar="NAME",
                        help="refund policy: sms-service, 1001sms or one of --policy-dir"
                        " (env SMSLEDGER_POLICY; default the store's, else sms-service)")
    common.add_argument("--policy-dir", metavar="DIR",
                        help="a directory of further policy versions (env SMSLEDGER_POLICY_DIR;"
                        " default the one the store was last given)")
    add_log_options(common)
    parser = argparse.ArgumentParser(
        prog="smsledger", description="Event-sourced order and money engine for SMS numbers.")
    add_version(parser)
    sub = parser.add_subparsers(dest="command", required=True)

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
    _add_optional_commands(sub, common)
    remember_subparsers(sub)
    return parser


def _add_optional_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    from smsledger.infra.cli.chain_commands import add_chain_commands
    from smsledger.infra.cli.policy_commands import add_policy_commands
    from smsledger.infra.cli.runtime_commands import add_runtime_commands
    from smsledger.infra.cli.serve_commands import add_serve_commands
    from smsledger.infra.cli.status_commands import add_status_commands

    add_runtime_commands(sub, common, command)
    add_status_commands(sub, common, command)
    add_serve_commands(sub, common, command)
    add_chain_commands(sub, common, command)
    add_policy_commands(sub, common, command)


def settings_for(args: argparse.Namespace) -> Settings:
    settings = settings_from_env()
    return replace(
        settings,
        store=getattr(args, "store", None) or settings.store,
        policy=getattr(args, "policy", None) or settings.policy,
        cancel_lock=_given(getattr(args, "cancel_lock", None), settings.cancel_lock),
        policy_dir=getattr(args, "policy_dir", None) or settings.policy_dir,
    )


def _given(flag: int | None, env: int | None) -> int | None:
    return env if flag is None else flag
def store_failures() -> tuple[type[BaseException], ...]:
    """The errors of a store that could not do its work (disk full, lock timeout, lost
    connection), from the library and from the drivers beneath it."""
    import sqlite3

    from eventsourcing.persistence import OperationalError

    failures: list[type[BaseException]] = [OperationalError, sqlite3.OperationalError]
    if "psycopg" in sys.modules:
        failures.append(sys.modules["psycopg"].OperationalError)
    return tuple(failures)


def one_line(error: BaseException) -> str:
    """The error as one line; a store that is full says what became of the input."""
    text = " ".join(str(error).split()) or type(error).__name__
    if isinstance(error, store_failures()):
        text = f"the store failed: {text}"
        if "full" in text or "No space left" in text:
            text += ("; the batch in hand was not stored (nothing of it is lost): free space"
                     " and run the same command again, messages stored already count as"
                     " duplicates")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parse_arguments(parser, argv)
    told: tuple[type[BaseException], ...] = (
        UsageError, StoreError, ValueError, RuntimeError, *store_failures())
    try:
        settings = settings_for(args)
        check_store_url(args, settings)
        configure_from(args, settings)
        code = COMMANDS[args.command](args, settings)
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return code
    except BrokenPipeError:
        return output_closed()
    except told as error:
        # Errors of input, configuration, unreachable services or a store that cannot
        # write (full, locked): a sentence, not a traceback (SMSLEDGER_DEBUG=1 shows it).
        if os.environ.get("SMSLEDGER_DEBUG"):
            raise
        print(f"smsledger {args.command}: {one_line(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"smsledger {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
