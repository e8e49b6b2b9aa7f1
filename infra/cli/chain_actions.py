"""The commands that prove the log: digest, prove, verify, explain, export (their parsers
are in `chain_commands`, which loads this module only when one of them runs)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson

from smsledger.infra.audit import log_reads
from smsledger.infra.audit.explain import Explanation, explain
from smsledger.infra.audit.export import FORMAT as EXPORT_FORMAT
from smsledger.infra.audit.export import export_lines, verify_export
from smsledger.infra.audit.proof import prove, verify_proof
from smsledger.infra.audit.replay import AuditReport
from smsledger.infra.cli.inputs import UsageError
from smsledger.infra.cli.render import print_json
from smsledger.infra.settings import Settings
from smsledger.infra.stores.chain import DigestRef


def digest_arg(text: str) -> DigestRef:
    try:
        return DigestRef.parse(text)
    except ValueError as error:
        raise UsageError(str(error)) from None


def _open(settings: Settings) -> Any:
    from smsledger.infra.bootstrap import bootstrap

    return bootstrap(settings)


def cmd_digest(args: argparse.Namespace, settings: Settings) -> int:
    ledger = _open(settings)
    try:
        head = log_reads.head(ledger.opened.database, ledger.opened.recorder)
    finally:
        ledger.close()
    if args.json:
        print_json(head.as_dict())
    else:
        print(f"position {head.position} digest {head.digest.hex()} at {head.at or '-'}")
    return 0


def cmd_prove(args: argparse.Namespace, settings: Settings) -> int:
    ref = digest_arg(args.digest) if args.digest else None
    ledger = _open(settings)
    try:
        document = prove(ledger.opened.database, ledger.opened.recorder, args.account, ref)
    finally:
        ledger.close()
    out = Path(args.out or f"proof-{args.account}.json")
    out.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
    end = document["digest"]
    print(f"wrote {out}: account {args.account}, {document['events']} events, connected to"
          f" {end['position']}:{end['digest']}")
    return 0


def cmd_verify(args: argparse.Namespace, settings: Settings) -> int:
    published = digest_arg(args.digest)
    path = Path(args.file)
    try:
        with path.open("rb") as stream:
            first = stream.readline()
            if _is_export(first):
                stream.seek(0)
                kind, verdict = "export", verify_export(stream, published)
            else:
                document = orjson.loads(first + stream.read())
                kind, verdict = "proof", verify_proof(document, published)
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror}") from None
    except orjson.JSONDecodeError:
        raise UsageError(f"{path} is neither a proof (JSON) nor an export (JSONL)") from None
    if verdict.verified:
        print(f"{kind} verified against {published}: {verdict.summary}")
        return 0
    print(f"{kind} FAILED against {published}:")
    for problem in verdict.problems:
        print(f"  - {problem}")
    return 1


def _is_export(first_line: bytes) -> bool:
    try:
        header = orjson.loads(first_line)
    except orjson.JSONDecodeError:
        return False
    return isinstance(header, dict) and header.get("format") == EXPORT_FORMAT


def cmd_explain(args: argparse.Namespace, settings: Settings) -> int:
    ledger = _open(settings)
    try:
        found = explain(ledger, args.id)
    except LookupError as error:
        raise UsageError(str(error)) from None
    finally:
        ledger.close()
    if args.json:
        print_json(found.as_dict())
    else:
        print_explanation(found)
    return 0


def print_explanation(found: Explanation) -> None:
    owner = f" of account {found.account}" if found.account and found.kind != "deposit" else (
        f" to account {found.account}" if found.account else "")
    print(f"{found.kind} {found.ref}{owner}; the store runs {found.policy}")
    for d in found.decisions:
        under = f" [{d.policy}]" if d.policy else ""
        print(f"{d.at or '-':<21} {d.decision}{under}")
        for rule in d.rules:
            print(f"{'':<23}{rule['rule']}:")
            for quote in rule["clauses"]:
                print(f"{'':<25}\"{quote}\"")
            if rule["reading"]:
                print(f"{'':<25}(the engine's reading: {rule['reading']})")


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    if args.since < 0:
        raise UsageError("--since must be a position, 0 or more")
    ledger = _open(settings)
    try:
        lines = export_lines(ledger.opened.database, ledger.opened.recorder, args.since)
        if args.out:
            with open(args.out, "wb") as out:
                out.writelines(lines)
        else:
            sys.stdout.flush()
            sys.stdout.buffer.writelines(lines)
    finally:
        ledger.close()
    return 0


def audit_chain_lines(report: AuditReport) -> list[str]:
    """What `audit` says of the chain, before its verdict."""
    chain = report.chain
    if chain is None:
        return []
    lines = [f"chain: {chain.events} events read, head {chain.last_position}:"
             f"{chain.head_digest.hex()}"]
    if chain.upgraded_at:
        lines.append(f"chain: original from position {chain.original_from}; the digests"
                     f" before it were computed on {chain.upgraded_at}, when the store was"
                     " first opened with the chain")
    if chain.against is not None and chain.intact:
        lines.append(f"chain: the published digest {chain.against} is at position"
                     f" {chain.against_position}; the log up to it is the one published")
    return lines
