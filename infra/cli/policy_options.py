"""Command-line options that adjust the policy's parameters for the orders a run accepts."""

from __future__ import annotations

import argparse

CANCEL_LOCK_HELP = (
    "early-cancel lock: a customer cancel is refused until this many seconds after the"
    " number was issued (or requested, while none is); recorded on each new order"
    " (env SMSLEDGER_CANCEL_LOCK; default 0)"
)


def seconds(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of seconds") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return value


def add_cancel_lock(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cancel-lock", type=seconds, metavar="SECONDS", help=CANCEL_LOCK_HELP)
