"""Command-line commands of policy versions: `policies` lists them, `whatif` replays a
store's inbound messages under another policy and compares."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smsledger.consumers.messages import DecodeError, parse_time
from smsledger.domain.policies import SINCE_EVER
from smsledger.domain.policy_versions import PolicySet, PolicyVersion, PolicyVersions, shown
from smsledger.infra.cli.conventions import add_store_options
from smsledger.infra.cli.inputs import UsageError
from smsledger.infra.cli.logging_options import add_log_options
from smsledger.infra.cli.render import print_json, print_table
from smsledger.infra.policy_files import load_policy_set, read_version_file
from smsledger.infra.settings import Settings
from smsledger.infra.stores.urls import masked

if TYPE_CHECKING:
    from smsledger.infra.whatif import Window

# The replay's modules (stores, engine) are imported by `whatif` itself: building the
# parser loads none of them.


def add_policy_commands(sub: Any, common: argparse.ArgumentParser, command: Any) -> None:
    p = sub.add_parser("policies", parents=[common],
                       help="list the policy versions (package and --policy-dir)")
    p.add_argument("--show", metavar="NAME@VERSION", help="print that version's file")
    p.add_argument("--json", action="store_true")

    # Not the common options: here --policy names the other policy (the baseline is the
    # store's own), so it is stored as `whatif_policy`.
    p = sub.add_parser(
        "whatif",
        help="replay the store's inbound messages under another policy and compare",
        description="Replays the store's recorded inbound messages into scratch stores, "
        "under its own policy (baseline) and under another (what-if), and compares the "
        "money flows. The live store is only read.",
    )
    add_store_options(p)
    add_log_options(p)
    p.add_argument("--policy-dir", metavar="DIR",
                   help="further policy versions (env SMSLEDGER_POLICY_DIR; default the"
                   " store's)")
    p.add_argument("--policy", dest="whatif_policy", required=True, metavar="FILE_OR_NAME",
                   help="a policy name (its versions by date), NAME@VERSION or a version file"
                   " (that one version decides every message)")
    p.add_argument("--since", metavar="T", help="RFC 3339: the other policy decides from"
                   " then on, and the flows are counted from then (default: the start)")
    p.add_argument("--until", metavar="T", help="RFC 3339: replay nothing from then on")
    p.add_argument("--top", type=int, default=10, metavar="N",
                   help="accounts whose outcome differs most to list (default 10)")
    p.add_argument("--json", action="store_true")

    command("policies")(cmd_policies)
    command("whatif")(cmd_whatif)


def cmd_policies(args: argparse.Namespace, settings: Settings) -> int:
    known = load_policy_set(settings.policy_dir)
    if args.show:
        version = known.version(args.show)
        if version is None:
            raise UsageError(f"no policy version {args.show}; see `smsledger policies`")
        sys.stdout.write(version.content)
        return 0
    rows = [_version_row(v) for versions in known for v in versions.versions]
    if args.json:
        print_json(rows)
    else:
        print_table(rows, max_width=70)
    return 0


def _version_row(version: PolicyVersion) -> dict[str, Any]:
    policy = version.policy
    return {"policy": policy.ref, "name": policy.name, "version": policy.version,
            "effective_from": shown(policy.effective_from), "text": version.text,
            "rules": len(version.clauses), "digest": version.digest[:12],
            "source": version.source}


def other_policy(spec: str, known: PolicySet, lock: timedelta | None = None) -> PolicyVersions:
    """A name: its versions by date. A version (NAME@VERSION or a file): that version
    alone, deciding every message. A `lock` (the cancel-lock setting) replaces the
    early-cancel lock of each, as it does the store's own versions'."""
    versions = _other_policy(spec, known)
    if lock is None:
        return versions
    return versions.with_policies(lambda p: replace(p, cancel_lock=lock))


def _other_policy(spec: str, known: PolicySet) -> PolicyVersions:
    if spec.endswith(".toml") or Path(spec).is_file():
        return _alone(read_version_file(Path(spec)))
    if "@" in spec:
        version = known.version(spec)
        if version is None:
            raise UsageError(f"no policy version {spec}; see `smsledger policies`")
        return _alone(version)
    return known.policy(spec)


def _alone(version: PolicyVersion) -> PolicyVersions:
    always = replace(version, policy=replace(version.policy, effective_from=SINCE_EVER))
    return PolicyVersions(version.policy.name, [always])


def _time(flag: str, text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_time(text)
    except DecodeError:
        raise UsageError(f"{flag} {text!r} is not an RFC 3339 time") from None


def cmd_whatif(args: argparse.Namespace, settings: Settings) -> int:
    from smsledger.infra.bootstrap import bootstrap, cancel_lock
    from smsledger.infra.whatif import Window, run_whatif
    from smsledger.infra.whatif_figures import account_differences, flows, side_report

    window: Window = Window(_time("--since", args.since), _time("--until", args.until))
    if window.since and window.until and window.until <= window.since:
        raise UsageError("--until must be later than --since")
    # A store to replay must exist: a mistyped --store is an error, nothing is created.
    ledger = bootstrap(settings, create=False, remember_policy_dir=False)
    try:
        known = load_policy_set(settings.policy_dir or ledger.opened.store.policy_dir())
        other = other_policy(args.whatif_policy, known, cancel_lock(settings))
        baseline, whatif, checks = run_whatif(ledger, other, window)
    finally:
        ledger.close()
    report = {
        "store": masked(settings.store),
        "window": {"since": args.since, "until": args.until},
        "messages": baseline.messages,
        "baseline": side_report(baseline.versions, baseline.start, baseline.end),
        "whatif": side_report(whatif.versions, whatif.start, whatif.end),
        "accounts": account_differences(flows(baseline.start, baseline.end),
                                         flows(whatif.start, whatif.end), args.top),
        **checks,
    }
    if args.json:
        print_json(report)
    else:
        _print_report(report)
    return 0


def _print_report(report: dict[str, Any]) -> None:
    from smsledger.infra.whatif_figures import AMOUNTS

    base, other = report["baseline"], report["whatif"]
    window = report["window"]
    print(f"what-if on {report['store']}: {report['messages']} messages replayed, from "
          f"{window['since'] or 'the start'} until {window['until'] or 'the end'}")
    print(f"baseline: {', '.join(base['policy_versions']) or '-'}")
    print(f"what-if:  {', '.join(other['policy_versions']) or '-'}\n")
    names = [*AMOUNTS[:2], "refunds_to_method", *AMOUNTS[2:], "orders_refunded_to_balance",
             "requests_rejected", "requests_expired"]
    rows = []
    for name in names:
        if name == "refunds_to_method":
            for part in ("count", "amount"):
                b, w = base[name][part], other[name][part]
                rows.append({"figure": f"refunds to method ({part})", "baseline": b,
                             "whatif": w, "difference": w - b})
            continue
        rows.append({"figure": name.replace("_", " "), "baseline": base[name],
                     "whatif": other[name], "difference": other[name] - base[name]})
    print_table(rows)
    print("\nrefund requests to the payment method, by rule (requests naming it, amount granted)")
    rules = sorted(set(base["by_rule"]) | set(other["by_rule"]))
    empty = {"requests": 0, "amount": 0}
    print_table([
        {"rule": rule,
         "baseline": base["by_rule"].get(rule, empty)["requests"],
         "baseline_amount": base["by_rule"].get(rule, empty)["amount"],
         "whatif": other["by_rule"].get(rule, empty)["requests"],
         "whatif_amount": other["by_rule"].get(rule, empty)["amount"]}
        for rule in rules
    ])
    print("\naccounts whose outcome differs most (baseline -> what-if)")
    print_table([
        {"account": row["account"], "difference": row["difference"],
         **{name: f"{row['baseline'][name]} -> {row['whatif'][name]}" for name in AMOUNTS}}
        for row in report["accounts"]
    ])
    if report.get("baseline_matches_store") is False:
        print("\nwarning: the baseline replay does not reproduce the store's balances")
