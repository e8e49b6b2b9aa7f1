"""The `smsledger` command line (DESIGN §9)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime

from smsledger.consumers.ingest import ingest_lines
from smsledger.consumers.messages import DecodeError, parse_time
from smsledger.infra.alongside import WORTH_IT_BYTES, projecting_alongside
from smsledger.infra.audit.replay import audit
from smsledger.infra.bootstrap import Ledger, bootstrap
from smsledger.infra.cli import history as history_mod
from smsledger.infra.cli.inputs import UsageError, open_input
from smsledger.infra.cli.render import end_progress, print_json, print_table, progress_printer
from smsledger.infra.settings import DEFAULT_POLICY, Settings, settings_from_env
from smsledger.infra.stores.selection import StoreError
from smsledger.projections.queries import QUERIES, run_query

Command = Callable[[argparse.Namespace, Settings], int]
COMMANDS: dict[str, Command] = {}


def command(name: str) -> Callable[[Command], Command]:
    def register(func: Command) -> Command:
        COMMANDS[name] = func
        return func

    return register


@contextmanager
def opened(settings: Settings) -> Iterator[Ledger]:
    ledger = bootstrap(settings)
    try:
        yield ledger
    finally:
        ledger.close()


@command("ingest")
def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    source = args.file
    with open_input(source) as stream, opened(settings) as ledger:
        report = progress_printer("ingesting") if not args.quiet else None
        large = source != "-" and os.path.getsize(source) >= WORTH_IT_BYTES
        with projecting_alongside(settings.store, ledger.policy.name, enabled=large):
            counts = ingest_lines(
                ledger.engine(), stream, source=source, batch_size=settings.batch_size,
                progress=report,
            )
        ledger.catch_up()
        if report is not None:
            end_progress()
    print(", ".join(f"{k}: {v}" for k, v in counts.as_dict().items()))
    return 0


@command("project")
def cmd_project(args: argparse.Namespace, settings: Settings) -> int:
    with opened(settings) as ledger:
        report = progress_printer("projecting")
        folded = ledger.rebuild(report) if args.rebuild else ledger.catch_up(report)
        end_progress()
    print(f"{'rebuilt from' if args.rebuild else 'caught up with'} {folded} events")
    return 0


@command("query")
def cmd_query(args: argparse.Namespace, settings: Settings) -> int:
    if args.account and not QUERIES[args.view][1]:
        raise UsageError(f"query {args.view} has no --account filter")
    with opened(settings) as ledger:
        ledger.catch_up()
        rows = run_query(ledger.opened.database, args.view, account=args.account,
                         extras=not args.json)
    if args.json:
        print_json(rows)
    else:
        print_table(rows)
    return 0


@command("history")
def cmd_history(args: argparse.Namespace, settings: Settings) -> int:
    as_of = _time_arg(args.as_of) if args.as_of else None
    with opened(settings) as ledger:
        try:
            kind, _, events = history_mod.find_events(ledger.opened, args.id)
        except LookupError as error:
            raise UsageError(str(error)) from None
        rows = history_mod.event_rows(events, as_of)
        state = history_mod.state_as_of(events, as_of)
    if args.json:
        print_json({"kind": kind, "events": rows, "state": state})
        return 0
    print(f"{kind} {args.id}" + (f" as of {args.as_of}" if as_of else ""))
    print_table(rows, max_width=120)
    print("\nstate:")
    for key, value in state.items():
        print(f"  {key:<16}{value}")
    return 0


def _time_arg(text: str) -> datetime:
    try:
        return parse_time(text)
    except DecodeError:
        raise UsageError(f"--as-of {text!r} is not an RFC 3339 time") from None


@command("audit")
def cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    with opened(settings) as ledger:
        report = audit(ledger, progress_printer("replaying"))
        end_progress()
    print(f"events replayed: {report.events}, accounts: {report.accounts}, "
          f"orders: {report.orders}")
    print("totals: " + ", ".join(f"{k} {v}" for k, v in report.totals.items()))
    if report.clean:
        print("audit clean: every balance re-derived, money invariant holds, "
              "read models equal a rebuild")
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
                       policy_dir=settings.policy_dir)
    print(f"policy {policy}, seed {args.seed}, {args.accounts} accounts, "
          f"{args.days} day(s), store {store or 'sqlite:///./smsledger-demo.db'}")
    print(format_summary(summary))
    return 0 if summary.audit.clean else 1


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--store", help="sqlite:///path.db or postgresql://user@host:port/db"
                        " (env SMSLEDGER_STORE; default sqlite:///./smsledger.db)")
    common.add_argument("--policy", metavar="NAME",
                        help="refund policy: sms-service, 1001sms or one of --policy-dir"
                        " (env SMSLEDGER_POLICY; default the store's, else sms-service)")
    common.add_argument("--policy-dir", metavar="DIR",
                        help="a directory of further policy versions (env SMSLEDGER_POLICY_DIR;"
                        " default the one the store was last given)")
    parser = argparse.ArgumentParser(
        prog="smsledger", description="Event-sourced order and money engine for SMS numbers.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", parents=[common], help="simulate traffic end to end on SQLite")
    p.add_argument("--accounts", type=int, default=200)
    p.add_argument("--days", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--emit", metavar="FILE", help="also write the messages as JSONL")
    p.add_argument("--bad-input", type=float, default=0.01, metavar="SHARE",
                   help="share of hostile lines mixed in (default 0.01)")

    p = sub.add_parser("ingest", parents=[common], help="process inbound messages (JSONL)")
    p.add_argument("file", metavar="FILE|-")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")

    p = sub.add_parser("project", parents=[common], help="catch projections up, or rebuild")
    p.add_argument("--rebuild", action="store_true",
                   help="empty the read models and fold the whole log again, in one transaction")

    p = sub.add_parser("query", parents=[common], help="read a projection")
    p.add_argument("view", choices=sorted(QUERIES))
    p.add_argument("--account")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("history", parents=[common], help="an order's or account's events")
    p.add_argument("id")
    p.add_argument("--as-of", metavar="T", help="RFC 3339 time")
    p.add_argument("--json", action="store_true")

    sub.add_parser("audit", parents=[common], help="replay everything and check invariants")
    _add_optional_commands(sub, common)
    return parser


def _add_optional_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    from smsledger.infra.cli.policy_commands import add_policy_commands
    from smsledger.infra.cli.runtime_commands import add_runtime_commands

    add_runtime_commands(sub, common, command)
    add_policy_commands(sub, common, command)


def settings_for(args: argparse.Namespace) -> Settings:
    settings = settings_from_env()
    return replace(
        settings,
        store=getattr(args, "store", None) or settings.store,
        policy=getattr(args, "policy", None) or settings.policy,
        policy_dir=getattr(args, "policy_dir", None) or settings.policy_dir,
    )


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = settings_for(args)
        return COMMANDS[args.command](args, settings)
    except (UsageError, StoreError, ValueError, RuntimeError) as error:
        # Errors of input, configuration or unreachable services: a sentence, not a
        # traceback (SMSLEDGER_DEBUG=1 shows it).
        if os.environ.get("SMSLEDGER_DEBUG"):
            raise
        print(f"smsledger {args.command}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"smsledger {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
