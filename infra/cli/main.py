"""The `smsledger` command line (DESIGN §9)."""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Callable
from dataclasses import replace

from smsledger.infra.cli.conventions import (
    add_store_options,
    add_version,
    check_store_url,
    output_closed,
    parse_arguments,
    remember_subparsers,
)
from smsledger.infra.cli.inputs import UsageError
from smsledger.infra.cli.ledger_commands import add_ledger_commands
from smsledger.infra.cli.logging_options import add_log_options, configure_from
from smsledger.infra.settings import Settings, settings_from_env
from smsledger.infra.stores.urls import StoreError

# The commands are in modules of their own (`ledger_commands` and those of
# `_add_optional_commands`); each imports what opens stores, decides or replays only when it
# runs: `smsledger --help` and a mistyped option load none of it.

Command = Callable[[argparse.Namespace, Settings], int]
COMMANDS: dict[str, Command] = {}


def command(name: str) -> Callable[[Command], Command]:
    def register(func: Command) -> Command:
        COMMANDS[name] = func
        return func

    return register


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

    add_ledger_commands(sub, common, command)
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


def console() -> None:
    """The `smsledger` command: `main`, then the exit. The heap is frozen first, so that the
    interpreter's final garbage collection does not walk every object the command loaded
    before the process ends anyway (about 12 ms of a `history` of 23 ms spent exiting);
    every object is still freed, and nothing is left unflushed (`main` flushes stdout)."""
    try:
        code = main()
    finally:
        gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    console()
