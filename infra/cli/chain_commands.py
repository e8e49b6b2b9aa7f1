"""The parsers of the commands that prove the log: digest, prove, verify, explain, export."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from smsledger.infra.settings import Settings


def add_chain_commands(sub: Any, common: argparse.ArgumentParser, command: Any) -> None:
    p = sub.add_parser("digest", parents=[common],
                       help="print the head of the hash chain (position, digest, time)")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("prove", parents=[common],
                       help="write a self-contained proof of one account's events and balance")
    p.add_argument("account")
    p.add_argument("--digest", metavar="DIGEST",
                   help="the published digest to connect to (HEX or POSITION:HEX; default:"
                        " the head)")
    p.add_argument("--out", metavar="FILE", help="default: proof-ACCOUNT.json")

    p = sub.add_parser("verify", help="check a proof or an export against a published digest,"
                                      " without the store")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--digest", metavar="DIGEST", required=True, help="HEX or POSITION:HEX")

    p = sub.add_parser("explain", parents=[common],
                       help="what was decided about an order, refund request or deposit, and"
                            " the policy clause behind each rule")
    p.add_argument("id")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("export", parents=[common],
                       help="the stored events with their digests as JSONL")
    p.add_argument("--since", type=int, default=0, metavar="POS",
                   help="events after this position (default 0: all)")
    p.add_argument("--out", metavar="FILE", help="default: stdout")

    for name in ("digest", "prove", "verify", "explain", "export"):
        command(name)(_loaded(f"cmd_{name}"))


def _loaded(name: str) -> Callable[[argparse.Namespace, Settings], int]:
    """The command `name` of `chain_actions`, imported when it runs: the chain, the audit and
    the domain are not loaded for `--help` or for another command."""

    def run(args: argparse.Namespace, settings: Settings) -> int:
        from smsledger.infra.cli import chain_actions

        action: Callable[[argparse.Namespace, Settings], int] = getattr(chain_actions, name)
        return action(args, settings)

    return run
