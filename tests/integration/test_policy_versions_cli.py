"""A policy change mid-stream through the command line: `ingest --policy-dir`, `query`,
`project --rebuild`, `audit`, and the store refusing changed, removed or retroactive versions."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import orjson
import pytest

from tests.integration.test_cli_sqlite import query, smsledger, snapshot, succeed, url
from tests.policy_support import write_version
from tests.scenario import Scenario

DAY = timedelta(days=1)
CHANGE = "2026-06-10T00:00:00Z"  # the Scenario starts 2026-06-01T10:00:00Z


def traffic() -> Scenario:
    """Two customers asking for a 4-day-old deposit back, before and after the change."""
    s = Scenario()
    for account, day in (("a1", 0), ("a2", 10)):
        s.at(day * DAY).account(account)
        s.deposit(1000, account=account, deposit=f"d-{account}")
        s.at((day + 4) * DAY).send("refund.requested", request=f"r-{account}",
                                   account=account, reason="other", details_provided=True)
    return s


@pytest.fixture
def ingested(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(store, policy directory, version file): sms-service@2 has a 3-day deposit window
    from 2026-06-10."""
    folder = tmp_path / "policies"
    folder.mkdir()
    version = write_version(folder, version='version = "2"',
                            effective_from=f"effective_from = {CHANGE}",
                            deposit_window='deposit_window = "3d"')
    stream = tmp_path / "in.jsonl"
    stream.write_bytes(b"\n".join(traffic().lines()) + b"\n")
    store = tmp_path / "ledger.db"
    succeed("ingest", str(stream), "--store", url(store), "--policy-dir", str(folder),
            cwd=tmp_path)
    return store, folder, version


def later_traffic(day: float) -> bytes:
    s = Scenario()
    s.at(day * DAY).send("clock.tick")
    return b"\n".join(line.replace(b'"m-', b'"later-') for line in s.lines()) + b"\n"


def test_query_refunds_shows_the_version_that_decided_each_request(
    ingested: tuple[Path, Path, Path],
) -> None:
    store, folder, _ = ingested
    refunds = {r["request"]: r for r in query(store, "refunds", "--policy-dir", str(folder))}
    assert (refunds["r-a1"]["status"], refunds["r-a1"]["policy"]) == ("approved",
                                                                    "sms-service@1")
    assert (refunds["r-a2"]["status"], refunds["r-a2"]["policy"]) == ("rejected",
                                                                    "sms-service@2")
    assert "deposit.window_expired" in refunds["r-a2"]["rules"]


def test_rebuild_is_identical_and_the_audit_clean_across_the_change(
    ingested: tuple[Path, Path, Path],
) -> None:
    store, _, _ = ingested
    before = snapshot(store)  # no --policy-dir: the store remembers the one it was given
    succeed("project", "--rebuild", "--store", url(store), cwd=store.parent)
    assert snapshot(store) == before
    said = succeed("audit", "--store", url(store), cwd=store.parent).decode()
    assert "audit clean" in said


def refused(store: Path, *args: str) -> str:
    done = smsledger("ingest", "-", "--store", url(store), *args, cwd=store.parent,
                     stdin=later_traffic(20))
    said = done.stderr.decode().strip().splitlines()
    assert done.returncode == 2, done.stderr.decode()
    assert len(said) == 1, said
    assert "Traceback" not in said[0]
    return said[0]


def test_a_changed_version_the_store_used_is_refused(
    ingested: tuple[Path, Path, Path],
) -> None:
    store, folder, version = ingested
    version.write_text(version.read_text().replace('deposit_window = "3d"',
                                                   'deposit_window = "4d"'))
    said = refused(store, "--policy-dir", str(folder))
    assert "sms-service@2" in said
    assert "was changed" in said
    # Every command that opens the store refuses it so, with the remembered directory too.
    done = smsledger("query", "refunds", "--store", url(store), cwd=store.parent)
    assert done.returncode == 2
    assert b"was changed" in done.stderr


def test_a_removed_version_the_store_used_is_refused(
    ingested: tuple[Path, Path, Path], tmp_path: Path,
) -> None:
    store, _, _ = ingested
    empty = tmp_path / "empty"
    empty.mkdir()
    said = refused(store, "--policy-dir", str(empty))
    assert "sms-service@2" in said
    assert "not among the versions" in said


def test_a_version_taking_effect_before_the_latest_decision_is_refused(
    ingested: tuple[Path, Path, Path],
) -> None:
    store, folder, _ = ingested
    write_version(folder, version='version = "2b"',
                  effective_from="effective_from = 2026-06-12T00:00:00Z")
    said = refused(store, "--policy-dir", str(folder))
    assert "sms-service@2b" in said
    assert "contradict decisions" in said


def test_a_future_version_can_be_added_and_decides_from_its_date(
    ingested: tuple[Path, Path, Path],
) -> None:
    store, folder, _ = ingested
    write_version(folder, version='version = "3"',
                  effective_from="effective_from = 2026-07-01T00:00:00Z",
                  deposit_window='deposit_window = "10d"')
    s = Scenario()
    s.at(31 * DAY).account("a3")
    s.deposit(1000, account="a3", deposit="d-a3")
    s.at(39 * DAY).send("refund.requested", request="r-a3", account="a3", reason="other",
                        details_provided=True)
    lines = b"\n".join(line.replace(b'"m-', b'"x-') for line in s.lines()) + b"\n"
    succeed("ingest", "-", "--store", url(store), "--policy-dir", str(folder),
            cwd=store.parent, stdin=lines)
    refund = {r["request"]: r for r in query(store, "refunds")}["r-a3"]
    assert (refund["status"], refund["amount"], refund["policy"]) == (
        "approved", 1000, "sms-service@3")


def test_a_store_keeps_its_policy_name_whatever_the_versions(
    ingested: tuple[Path, Path, Path],
) -> None:
    store, folder, _ = ingested
    said = refused(store, "--policy-dir", str(folder), "--policy", "1001sms")
    assert "runs policy 'sms-service'" in said


def test_a_bad_policy_directory_fails_before_a_store_is_made(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "broken.toml").write_text('name = "x"\n')
    done = smsledger("ingest", "-", "--store", url(tmp_path / "new.db"), "--policy-dir",
                     str(tmp_path / "p"), cwd=tmp_path, stdin=later_traffic(1))
    assert done.returncode == 2
    assert b"broken.toml" in done.stderr
    assert not (tmp_path / "new.db").exists()
    unknown = smsledger("ingest", "-", "--store", url(tmp_path / "new.db"), "--policy", "acme",
                        cwd=tmp_path, stdin=later_traffic(1))
    assert unknown.returncode == 2
    assert b"unknown policy 'acme'" in unknown.stderr
    assert not (tmp_path / "new.db").exists()


def test_policies_lists_the_versions_and_shows_a_file(
    ingested: tuple[Path, Path, Path],
) -> None:
    store, folder, version = ingested
    rows = orjson.loads(succeed("policies", "--json", "--policy-dir", str(folder),
                                cwd=store.parent))
    assert [r["policy"] for r in rows] == ["1001sms@2024-06-15", "sms-service@1",
                                           "sms-service@2"]
    shown = succeed("policies", "--show", "sms-service@2", "--policy-dir", str(folder),
                    cwd=store.parent)
    assert shown == version.read_bytes()
