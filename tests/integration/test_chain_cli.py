"""The hash chain end to end through the command line, on a SQLite file and on PostgreSQL:
every tampering made directly with SQL is reported by `audit` (exit 1, the position, the
aggregate, what differs); proofs and exports verify without the store; a store written
before the chain is chained once and says so."""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from smsledger.consumers.ingest import ingest_lines
from smsledger.infra.bootstrap import bootstrap
from smsledger.infra.settings import Settings
from smsledger.infra.simulation.simulator import SimulationConfig, simulate_lines, write_jsonl
from tests.integration.conftest import SERVER
from tests.tampering import TAMPERING, ZEN, Db

CLI = [sys.executable, "-m", "smsledger.infra.cli"]
SIMULATION = SimulationConfig(accounts=12, days=1.0, seed=3, bad_input_share=0.03)


def smsledger(*args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSLEDGER_")}
    return subprocess.run([*CLI, *args], cwd=cwd, env=env, capture_output=True, timeout=120)


def succeed(*args: str, cwd: Path) -> bytes:
    done = smsledger(*args, cwd=cwd)
    assert done.returncode == 0, f"smsledger {' '.join(args)}: {done.stderr.decode()}"
    return done.stdout


@dataclass
class Store:
    url: str
    db: Db
    workdir: Path

    def run(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return smsledger(*args, "--store", self.url, cwd=self.workdir)

    def published(self) -> str:
        """The head, as `digest` prints it (a test below holds the two equal)."""
        position, digest = self.db.rows(
            "SELECT {pos}, digest FROM {events} ORDER BY {pos} DESC LIMIT 1")[0]
        return f"{position}:{bytes(digest).hex()}"


@pytest.fixture(scope="module")
def traffic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("chain") / "traffic.jsonl"
    write_jsonl(simulate_lines(SIMULATION), path)
    return path


@pytest.fixture(scope="module")
def ingested_sqlite(traffic: Path) -> Path:
    store = traffic.parent / "ingested.db"
    succeed("ingest", str(traffic), "--store", f"sqlite:///{store}", cwd=traffic.parent)
    return store


def _sqlite_store(source: Path, tmp_path: Path) -> Store:
    copy = tmp_path / "store.db"
    with sqlite3.connect(source) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    src.close()
    dst.close()
    connection = sqlite3.connect(copy, isolation_level=None)
    return Store(f"sqlite:///{copy}", Db(connection, "stored_events", "rowid", "?"), tmp_path)


def _postgres_store(url: str, traffic: Path, tmp_path: Path) -> Store:
    import psycopg

    ledger = bootstrap(Settings(store=url, policy="sms-service"))
    ingest_lines(ledger.engine(), traffic.read_bytes().splitlines(), source=str(traffic))
    ledger.catch_up()
    ledger.close()
    schema = url.rpartition("schema=")[2]
    connection = psycopg.connect(SERVER, autocommit=True, options=f"-c search_path={schema}")
    return Store(url, Db(connection, "smsledger_events", "notification_id", "%s"), tmp_path)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, ingested_sqlite: Path, traffic: Path,
          tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        made = _sqlite_store(ingested_sqlite, tmp_path)
    else:
        made = _postgres_store(request.getfixturevalue("pg_schemas")(), traffic, tmp_path)
    yield made
    made.db.connection.close()


def test_a_clean_store_audits_clean_against_its_published_digest(store: Store) -> None:
    published = store.published()
    done = store.run("audit", "--against", published)
    said = done.stdout.decode()
    assert done.returncode == 0, said + done.stderr.decode()
    assert f"the published digest {published} is at position" in said
    assert "audit clean" in said


@pytest.mark.parametrize("tampering", sorted(TAMPERING))
def test_every_tampering_is_reported_with_its_position_and_exit_1(
    store: Store, tampering: str
) -> None:
    published = store.published()
    expected = TAMPERING[tampering](store.db)
    done = store.run("audit", "--against", published)
    said = done.stdout.decode()
    assert done.returncode == 1, said + done.stderr.decode()
    assert "audit FAILED" in said
    for text in expected:
        assert text in said, f"{text!r} not in:\n{said}"
    assert b"Traceback" not in done.stderr
    assert ZEN not in said + done.stderr.decode()


@pytest.mark.parametrize("tampering", ["delete_event", "reorder_versions", "forge_event",
                                       "import_topic", "truncate_tail"])
def test_plain_audit_reports_a_tampered_log_without_crashing(
    store: Store, tampering: str
) -> None:
    expected = TAMPERING[tampering](store.db)
    done = store.run("audit")
    said = done.stdout.decode()
    assert done.returncode == 1, said + done.stderr.decode()
    assert expected[0] in said
    assert b"Traceback" not in done.stderr
    assert b"OriginatorVersionError" not in done.stdout + done.stderr


def test_history_of_an_aggregate_with_a_foreign_topic_imports_nothing(store: Store) -> None:
    TAMPERING["import_topic"](store.db)
    account = store.db.rows("SELECT MIN(account) FROM balances")[0][0]
    done = store.run("history", account)
    assert ZEN not in done.stdout.decode() + done.stderr.decode()
    assert b"Traceback" not in done.stderr


def _accounts(store: Store) -> list[dict[str, Any]]:
    rows = orjson.loads(succeed("query", "balances", "--json", "--store", store.url,
                                cwd=store.workdir))
    assert rows
    return rows  # type: ignore[no-any-return]


def test_proofs_of_random_accounts_verify_without_the_store(store: Store) -> None:
    published = store.published()
    balances = _accounts(store)
    for row in random.Random(3).sample(balances, 3):
        out = store.workdir / f"proof-{row['account']}.json"
        succeed("prove", row["account"], "--digest", published, "--out", str(out),
                "--store", store.url, cwd=store.workdir)
        done = smsledger("verify", str(out), "--digest", published, cwd=store.workdir)
        assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
        derived = orjson.loads(out.read_bytes())["derived"]
        assert {k: derived[k] for k in row if k != "account"} == {
            k: v for k, v in row.items() if k != "account"}


def test_a_proof_edited_after_it_was_made_fails_verification(store: Store) -> None:
    published = store.published()
    account = _accounts(store)[0]["account"]
    out = store.workdir / "proof.json"
    succeed("prove", account, "--out", str(out), "--store", store.url, cwd=store.workdir)
    document = orjson.loads(out.read_bytes())
    document["derived"]["available"] += 1
    out.write_bytes(orjson.dumps(document))
    done = smsledger("verify", str(out), "--digest", published, cwd=store.workdir)
    assert done.returncode == 1
    assert b"the balance stated is not the one the events derive" in done.stdout


def test_an_export_verifies_link_by_link_against_the_published_digest(store: Store) -> None:
    published = store.published()
    middle = int(published.partition(":")[0]) // 2
    export = store.workdir / "export.jsonl"
    succeed("export", "--since", str(middle), "--out", str(export), "--store", store.url,
            cwd=store.workdir)
    done = smsledger("verify", str(export), "--digest", published, cwd=store.workdir)
    assert done.returncode == 0, done.stdout.decode()
    lines = export.read_bytes().splitlines()
    assert orjson.loads(lines[1])["position"] == middle + 1
    event = orjson.loads(lines[5])
    event["state"] = event["state"].replace('"timestamp":"2026', '"timestamp":"2027')
    lines[5] = orjson.dumps(event)
    export.write_bytes(b"\n".join(lines) + b"\n")
    done = smsledger("verify", str(export), "--digest", published, cwd=store.workdir)
    assert done.returncode == 1
    assert f"position {event['position']}".encode() in done.stdout


def test_a_store_written_before_the_chain_is_chained_once_and_says_from_where(
    store: Store
) -> None:
    published = store.published()
    last = int(published.partition(":")[0])
    store.db.run("ALTER TABLE {events} DROP COLUMN digest")
    store.db.run("DROP TABLE ledger_chain")
    first = store.run("digest")
    assert first.returncode == 0, first.stderr.decode()
    assert f"the chain is original from position {last + 1}".encode() in first.stderr
    # The log is as written, so the digests computed now are those the ledger had written.
    assert f"position {last} digest {published.partition(':')[2]}".encode() in first.stdout
    assert store.run("digest").stderr == b""  # computed once
    done = store.run("audit", "--against", published)
    assert done.returncode == 0, done.stdout.decode()
    assert f"original from position {last + 1}".encode() in done.stdout


@pytest.mark.postgres
def test_the_same_input_gives_the_same_head_on_sqlite_and_postgres(
    ingested_sqlite: Path, traffic: Path, pg_url: str, tmp_path: Path
) -> None:
    on_sqlite = succeed("digest", "--json", "--store", f"sqlite:///{ingested_sqlite}",
                        cwd=tmp_path)
    succeed("ingest", str(traffic), "--store", pg_url, cwd=tmp_path)
    assert succeed("digest", "--json", "--store", pg_url, cwd=tmp_path) == on_sqlite


def test_digest_prints_the_head_as_one_line_and_as_json(store: Store) -> None:
    line = store.run("digest").stdout.decode()
    head = orjson.loads(store.run("digest", "--json").stdout)
    assert line == f"position {head['position']} digest {head['digest']} at {head['at']}\n"
    assert store.published() == f"{head['position']}:{head['digest']}"
    assert head["position"] == store.db.rows("SELECT MAX({pos}) FROM {events}")[0][0]
    assert (head["original_from"], head["upgraded_at"]) == (1, None)


def test_explain_names_each_decision_its_policy_and_clauses(store: Store) -> None:
    orders = orjson.loads(succeed("query", "orders", "--json", "--store", store.url,
                                  cwd=store.workdir))
    refunded = next(o for o in orders if o["state"] == "refunded")
    found = orjson.loads(succeed("explain", refunded["order"], "--json", "--store", store.url,
                                 cwd=store.workdir))
    assert (found["kind"], found["account"]) == ("order", refunded["account"])
    last = found["decisions"][-1]
    assert last["event"] == "Order.Refunded"
    assert last["policy"] == "sms-service@1"
    assert last["rules"][0]["clauses"]
    text = succeed("explain", refunded["order"], "--store", store.url, cwd=store.workdir)
    assert last["rules"][0]["clauses"][0].encode() in text
