"""Issue 13 end to end through the command line on a SQLite file: a scenario written from
the policy texts, queried as JSON, rebuilt byte for byte, audited; and the cancel lock as a
flag and as a setting."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.integration.test_cli_sqlite import CLI, query, snapshot, succeed, url, user_env


def _line(n: int, kind: str, at: str, **data: Any) -> bytes:
    return orjson.dumps({"id": f"m{n}", "type": kind, "at": f"2026-06-{at}Z", "data": data})


def _order(n: int, order: str, at: str) -> list[bytes]:
    return [
        _line(n, "order.requested", f"01T{at}:00", account="a1", order=order, service="tg",
              country="KZ", price=100),
        _line(n + 1, "number.issued", f"01T{at}:01", order=order, provider="p1", phone="+7",
              activation=f"x-{order}"),
    ]


SCENARIO = [
    _line(1, "account.opened", "01T10:00:00", account="a1"),
    _line(2, "deposit.succeeded", "01T10:00:01", account="a1", deposit="d1", amount=1000,
          method="card"),
    # o1: the window completes it, then a wrong code is reported an hour later: reversed.
    *_order(3, "o1", "10:01"),
    _line(5, "sms.delivered", "01T10:02:00", order="o1", text="code 1", code="1"),
    _line(6, "order.wrong_code_reported", "01T11:30:00", order="o1", account="a1"),
    # o2: the cancel button failed, reported inside the 120 s lock and after it.
    *_order(7, "o2", "11:31"),
    _line(9, "order.cancel_failed", "01T11:32:00", order="o2", account="a1", detail="500"),
    _line(10, "order.cancel_failed", "01T11:34:00", order="o2", account="a1", detail="500"),
    # o3 holds a delivered code when the account is deleted: sold, not refunded.
    *_order(11, "o3", "11:40"),
    _line(13, "sms.delivered", "01T11:41:00", order="o3", text="code 3", code="3"),
    _line(14, "account.closed", "01T11:42:00", account="a1"),
    _line(15, "deposit.succeeded", "01T11:43:00", account="a1", deposit="d2", amount=300,
          method="crypto"),
    _line(16, "refund.extended", "01T11:44:00", request="closure:a1:d2",
          until="2026-06-30T00:00:00Z", reason="bank holiday"),
    _line(17, "clock.tick", "20T00:00:00"),
]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("edges")
    stream = workdir / "edges.jsonl"
    stream.write_bytes(b"\n".join(SCENARIO) + b"\n")
    store = workdir / "edges.db"
    succeed("ingest", str(stream), "--store", url(store), "--policy", "sms-service",
            "--cancel-lock", "120", "--quiet", cwd=workdir)
    return store


def test_the_scenario_reads_back_as_the_policy_texts_say(store: Path) -> None:
    orders = {row["order"]: row for row in query(store, "orders")}
    assert {o: (r["state"], r["charged"]) for o, r in orders.items()} == {
        "o1": ("refunded", 0), "o2": ("cancelled", 0), "o3": ("completed", 100)}
    (balance,) = query(store, "balances")
    # d1 stays blocked by o3, activated after it: 900 forfeited; d2 goes back.
    assert {k: balance[k] for k in ("available", "held", "spent", "refund_pending",
                                    "forfeited")} == {
        "available": 0, "held": 0, "spent": 100, "refund_pending": 300, "forfeited": 900}
    refunds = {row["request"]: row for row in query(store, "refunds")}
    assert (refunds["closure:a1"]["status"], refunds["closure:a1"]["rules"]) == (
        "rejected", ["deposit.spent_after"])
    returned = refunds["closure:a1:d2"]
    assert (returned["status"], returned["amount"], returned["route"]) == (
        "approved", 300, "alternative")
    # Due 14 days after the deposit, extended to the 30th: not overdue on the 20th.
    assert (returned["payout_due"], returned["overdue"]) == ("2026-06-30T00:00:00Z", False)
    (locked,) = query(store, "rejections")
    assert (locked["message"], locked["reason"], locked["rules"]) == (
        "m9", "cancel_locked", ["order.cancel_lock"])


def test_a_rebuild_leaves_every_query_byte_identical_and_audit_clean(store: Path) -> None:
    before = snapshot(store)
    succeed("project", "--rebuild", "--store", url(store), cwd=store.parent)
    assert snapshot(store) == before
    assert b"audit clean" in succeed("audit", "--store", url(store), cwd=store.parent)


def _ingest_cancel_at_60s(workdir: Path, *args: str, env: dict[str, str]) -> list[str]:
    stream = workdir / "lock.jsonl"
    stream.write_bytes(b"\n".join([
        *SCENARIO[:2], *_order(3, "o1", "10:01"),
        _line(5, "order.cancel_requested", "01T10:02:01", order="o1", account="a1"),
    ]))
    store = workdir / f"lock{len(list(workdir.iterdir()))}.db"
    done = subprocess.run([*CLI, "ingest", str(stream), "--store", url(store), "--quiet", *args],
                          cwd=workdir, env=env, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    return [row["reason"] for row in query(store, "rejections")]


def test_the_cancel_lock_comes_from_the_flag_or_the_environment(tmp_path: Path) -> None:
    env = user_env()
    assert _ingest_cancel_at_60s(tmp_path, env=env) == []
    assert _ingest_cancel_at_60s(tmp_path, "--cancel-lock", "120", env=env) == ["cancel_locked"]
    locked_env = {**env, "SMSLEDGER_CANCEL_LOCK": "120"}
    assert _ingest_cancel_at_60s(tmp_path, env=locked_env) == ["cancel_locked"]
    assert _ingest_cancel_at_60s(tmp_path, "--cancel-lock", "0", env=locked_env) == []


@pytest.mark.parametrize(("args", "env"), [
    (["--cancel-lock", "-5"], {}), (["--cancel-lock", "soon"], {}),
    ([], {"SMSLEDGER_CANCEL_LOCK": "-5"}), ([], {"SMSLEDGER_CANCEL_LOCK": "soon"}),
])
def test_a_bad_cancel_lock_is_one_line_and_exit_2(
    tmp_path: Path, args: list[str], env: dict[str, str]
) -> None:
    stream = tmp_path / "empty.jsonl"
    stream.write_bytes(b"")
    done = subprocess.run(
        [*CLI, "ingest", str(stream), "--store", url(tmp_path / "x.db"), *args],
        cwd=tmp_path, env={**user_env(), **env}, capture_output=True, timeout=120,
    )
    assert done.returncode == 2
    assert b"Traceback" not in done.stderr
    assert b"cancel" in done.stderr.lower()


@pytest.mark.parametrize("command", ["ingest", "consume", "demo"])
def test_every_command_that_accepts_orders_documents_the_cancel_lock(command: str) -> None:
    done = subprocess.run([*CLI, command, "--help"], env=user_env(), capture_output=True,
                          timeout=60, cwd=os.getcwd())
    assert b"--cancel-lock SECONDS" in done.stdout
    assert b"SMSLEDGER_CANCEL_LOCK" in done.stdout
