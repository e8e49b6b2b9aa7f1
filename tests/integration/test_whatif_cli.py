"""`smsledger whatif` on the demo workload: its what-if totals equal a fresh ingest under the
other policy, its baseline equals the store, and the live store is never written."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.integration.test_cli_sqlite import query, smsledger, succeed, url
from tests.policy_support import write_version

GRANTED = ("approved", "awaiting_details", "paid")
RETURNED = ("failed", "timed_out", "cancelled", "refunded")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(store, emitted stream) of a demo run under sms-service."""
    folder = tmp_path_factory.mktemp("whatif")
    store, stream = folder / "demo.db", folder / "demo.jsonl"
    succeed("demo", "--accounts", "80", "--store", url(store), "--emit", str(stream),
            cwd=folder)
    return store, stream


def whatif(store: Path, *args: str) -> dict[str, Any]:
    report = orjson.loads(succeed("whatif", "--store", url(store), "--json", *args,
                                  cwd=store.parent))
    assert isinstance(report, dict)
    return report


def fresh_ingest(stream: Path, target: Path, *args: str) -> Path:
    succeed("ingest", str(stream), "--store", url(target), "--quiet", *args, cwd=target.parent)
    return target


def totals(store: Path) -> dict[str, Any]:
    """What a what-if side reports, computed from a store's queries."""
    balances, orders = query(store, "balances"), query(store, "orders")
    refunds = query(store, "refunds")
    granted = [r for r in refunds if r["status"] in GRANTED]
    returned = [o for o in orders if o["state"] in RETURNED and o["released"] > 0]
    by_rule: dict[str, dict[str, int]] = {}
    for refund in refunds:
        for rule in refund["rules"]:
            entry = by_rule.setdefault(rule, {"requests": 0, "amount": 0})
            entry["requests"] += 1
            entry["amount"] += refund["amount"] if refund["status"] in GRANTED else 0
    return {
        "refunded_out": sum(b["refunded_out"] for b in balances),
        "refund_pending": sum(b["refund_pending"] for b in balances),
        "forfeited": sum(b["forfeited"] for b in balances),
        "revenue": sum(b["spent"] for b in balances),
        "refunds_to_balance": sum(o["released"] for o in returned),
        "orders_refunded_to_balance": len(returned),
        "refunds_to_method": {"count": len(granted), "amount": sum(r["amount"] for r in granted)},
        "by_rule": dict(sorted(by_rule.items())),
    }


SIDE_KEYS = ("refunded_out", "refund_pending", "forfeited", "revenue", "refunds_to_balance",
             "orders_refunded_to_balance", "refunds_to_method", "by_rule")


def side(report: dict[str, Any], name: str) -> dict[str, Any]:
    return {key: report[name][key] for key in SIDE_KEYS}


def files_digest(store: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(store.parent.glob(store.name + "*")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def test_whatif_totals_equal_a_fresh_ingest_under_the_other_policy(
    demo: tuple[Path, Path],
) -> None:
    store, stream = demo
    untouched = files_digest(store)
    report = whatif(store, "--policy", "1001sms")
    assert files_digest(store) == untouched  # the live store is only read
    fresh = fresh_ingest(stream, store.parent / "fresh-1001sms.db", "--policy", "1001sms")
    assert side(report, "whatif") == totals(fresh)
    assert side(report, "baseline") == totals(store)
    assert report["baseline_matches_store"] is True
    assert report["whatif"]["policy_versions"] == ["1001sms@2024-06-15"]
    assert all(isinstance(report[s][k], int) for s in ("baseline", "whatif")
               for k in ("refunded_out", "refunds_to_balance", "forfeited", "revenue"))
    # The policies differ on this traffic, and the accounts say where.
    assert side(report, "whatif") != side(report, "baseline")
    differing = report["accounts"]
    assert differing
    assert [a["difference"] for a in differing] == sorted(
        (a["difference"] for a in differing), reverse=True)


def test_whatif_of_a_version_file_decides_every_message_under_it(
    demo: tuple[Path, Path], tmp_path: Path,
) -> None:
    store, stream = demo
    proposal = write_version(tmp_path, version='version = "2"',
                             effective_from="effective_from = 2030-01-01T00:00:00Z",
                             deposit_window='deposit_window = "1h"')
    report = whatif(store, "--policy", str(proposal))
    assert report["whatif"]["policy_versions"] == ["sms-service@2"]
    # A fresh ingest with that version in force from before the traffic decides alike.
    folder = tmp_path / "in-force"
    folder.mkdir()
    write_version(folder, version='version = "2"',
                  effective_from="effective_from = 2021-01-01T00:00:00Z",
                  deposit_window='deposit_window = "1h"')
    fresh = fresh_ingest(stream, tmp_path / "fresh.db", "--policy-dir", str(folder))
    assert side(report, "whatif") == totals(fresh)
    assert report["whatif"]["by_rule"]["deposit.window_expired"]["requests"] > (
        report["baseline"]["by_rule"].get("deposit.window_expired", {}).get("requests", 0))


def test_whatif_since_changes_only_what_comes_after(demo: tuple[Path, Path]) -> None:
    store, _ = demo
    late = whatif(store, "--policy", "1001sms", "--since", "2030-01-01T00:00:00Z")
    assert side(late, "whatif") == side(late, "baseline")
    assert late["whatif"]["revenue"] == 0  # nothing flows after that time
    early = whatif(store, "--policy", "1001sms", "--since", "2026-06-01T00:00:00Z")
    whole = whatif(store, "--policy", "1001sms")
    assert side(early, "whatif") == side(whole, "whatif")
    middle = whatif(store, "--policy", "1001sms", "--since", "2026-06-01T12:00:00Z",
                    "--until", "2026-06-01T18:00:00Z")
    assert middle["whatif"]["policy_versions"] == ["sms-service@1", "1001sms@2024-06-15"]
    assert 0 < middle["baseline"]["revenue"] < whole["baseline"]["revenue"]


def test_whatif_refuses_a_store_without_its_inbound_log(
    demo: tuple[Path, Path], tmp_path: Path,
) -> None:
    store, _ = demo
    copy = tmp_path / "old.db"
    with sqlite3.connect(store) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
        dst.execute("DELETE FROM inbound_log")
    src.close()
    dst.close()
    done = smsledger("whatif", "--store", url(copy), "--policy", "1001sms", cwd=tmp_path)
    assert done.returncode == 2
    assert b"cannot be replayed" in done.stderr
    assert b"Traceback" not in done.stderr
