"""`smsledger query`'s options: filters by account, time and provider group; a table, JSON
or CSV."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import Any, TextIO

from smsledger.infra.cli.inputs import UsageError
from smsledger.infra.cli.render import print_csv, print_json, print_table
from smsledger.projections.queries import QUERIES, SHAPES
from smsledger.projections.series_queries import GROUP_VIEWS, TIME_COLUMNS, parse_bound


def add_query_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--account", help="one account's rows")
    parser.add_argument("--since", metavar="T",
                        help="rows (or periods) from this time on: RFC 3339 to the second,"
                        " or a date (its midnight UTC)")
    parser.add_argument("--until", metavar="T", help="rows (or periods) before this time")
    for name in ("provider", "service", "country"):
        parser.add_argument(f"--{name}", help=f"one {name}'s rows (orders, stats, hourly, daily)")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="a JSON array of objects")
    output.add_argument("--csv", action="store_true",
                        help="CSV: a header row of the JSON field names, then one row each")


def query_filters(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of `run_query` the options ask for, checked against the view."""
    view = args.view
    if args.account and not QUERIES[view][1]:
        raise UsageError(f"query {view} has no --account filter")
    if (args.since or args.until) and view not in TIME_COLUMNS:
        raise UsageError(f"query {view} has no --since/--until filter")
    group = {name: getattr(args, name) for name in ("provider", "service", "country")}
    if any(value is not None for value in group.values()) and view not in GROUP_VIEWS:
        raise UsageError(f"query {view} has no --provider/--service/--country filter")
    return {
        "account": args.account, "since": time_bound("--since", args.since),
        "until": time_bound("--until", args.until), **group,
    }


def time_bound(flag: str, text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_bound(text)
    except ValueError as error:
        raise UsageError(f"{flag} {error}") from None


def write_rows(view: str, rows: list[dict[str, Any]], args: argparse.Namespace,
               out: TextIO = sys.stdout) -> None:
    if args.json:
        print_json(rows, out)
    elif args.csv:
        print_csv(rows, out, fields=list(rows[0]) if rows else field_names(view))
    else:
        print_table(rows, out)


def field_names(view: str) -> list[str]:
    """The JSON fields of a view with no rows: its row shape applied to a row of zeros
    (every shape reads a zero as an empty value of its column's kind)."""
    return list(SHAPES[view]((0,) * 64))
