"""What every subcommand does alike: `--version`, its own usage for an unknown option, a
quiet end when the reader of its output goes away (`| head`), and the checks of a store URL
made before anything opens it."""

from __future__ import annotations

import argparse
import os
import sys
from importlib.metadata import PackageNotFoundError, version

from smsledger.infra.settings import Settings
from smsledger.infra.stores.urls import POSTGRES_PREFIXES, PUBLIC_FLAG, check_public_allowed

# A process whose reader closed the pipe ends as if killed by SIGPIPE (128 + 13), as
# `cat` and `yes` do: `| head` is not a failure, and `set -o pipefail` still sees it.
CLOSED_PIPE_EXIT = 141


def package_version() -> str:
    try:
        return version("smsledger")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def add_version(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--version", action="version",
                        version=f"smsledger {package_version()}")


def add_store_options(common: argparse.ArgumentParser) -> None:
    """The options of every command that opens a store."""
    common.add_argument("--store", help="sqlite:///path.db or postgresql://user@host:port/db"
                        "?schema=NAME (env SMSLEDGER_STORE; default sqlite:///./smsledger.db)")
    common.add_argument(PUBLIC_FLAG, action="store_true",
                        help="allow a PostgreSQL store in the database's public schema")


def parse_arguments(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse; an option or argument the subcommand does not know is shown with the
    subcommand's own usage (argparse alone shows the top level's)."""
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        subparser: argparse.ArgumentParser = getattr(args, "subparser", parser)
        subparser.error(f"unrecognized arguments: {' '.join(unknown)}")
    return args


def remember_subparsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Let each subcommand's namespace name its parser (for `parse_arguments`)."""
    for subparser in sub.choices.values():
        subparser.set_defaults(subparser=subparser)


def output_closed() -> int:
    """The reader of stdout has gone: stop writing, without a traceback. Python would
    flush stdout again at exit and report the same broken pipe, so it points at
    /dev/null from here on."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return CLOSED_PIPE_EXIT


def check_store_url(args: argparse.Namespace, settings: Settings) -> None:
    """For a command that opens a store: a PostgreSQL URL's schema is one a ledger may use
    (`public` only with its flag) and, if the URL names none, the one used is said."""
    if not hasattr(args, "store") or not settings.store.startswith(POSTGRES_PREFIXES):
        return
    if args.command == "demo" and not args.store:
        return  # the demo's own store, not SMSLEDGER_STORE
    from smsledger.infra.stores.selection import postgres_target

    target = postgres_target(settings.store)
    check_public_allowed(target, getattr(args, "allow_public_schema", False))
    if not target.schema_given:
        print(f"smsledger {args.command}: the store URL names no ?schema=; using schema "
              f"{target.schema}", file=sys.stderr)
