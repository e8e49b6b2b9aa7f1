"""The `smsledger` command line end to end on a real SQLite file, run as a user runs it:
one subprocess per command, JSON read back from stdout, the file tampered with sqlite3."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from smsledger.domain.closure import closure_request, returned_deposit_request
from smsledger.infra.simulation.simulator import SimulationConfig, simulate_lines, write_jsonl
from smsledger.projections.tables import index_names

CLI = [sys.executable, "-m", "smsledger.infra.cli"]
POLICIES = ("sms-service", "1001sms")
VIEWS = ("balances", "orders", "refunds", "deposits", "dead-letters", "rejections", "stats")
DESIGN_COMMANDS = ("demo", "ingest", "consume", "project", "query", "history", "audit", "bench")
# DESIGN §9, field for field.
FIELDS = {
    "balances": {"account", "currency", "deposited", "available", "held", "spent",
                 "refund_pending", "refunded_out", "forfeited"},
    "orders": {"order", "account", "state", "service", "country", "provider", "price",
               "charged", "released", "reason"},
    "deposits": {"deposit", "account", "method", "amount", "at", "refundable", "blocked_by"},
    # DESIGN §9, how and when it is paid out (issue 13) and the deciding version (issue 19).
    "refunds": {"request", "account", "status", "requested", "amount", "fee", "rules",
                "route", "payout_due", "overdue", "policy"},
}
AMOUNTS = {
    "balances": FIELDS["balances"] - {"account", "currency"},
    "orders": {"price", "charged", "released"},
    "deposits": {"amount", "refundable"},
    "refunds": {"amount", "fee"},
}
BUCKETS = ("available", "held", "spent", "refund_pending", "refunded_out", "forfeited")
ORDER_STATES = {"requested", "waiting_sms", "sms_received", "waiting_retry", "completed",
                "cancelled", "timed_out", "failed", "refunded", "rejected"}
REFUND_STATUSES = {"awaiting_details", "approved", "rejected", "expired", "paid"}
# A simulated day of 40 accounts: refunds, wrong codes and incomplete texts all occur, and
# about one bad line in fifty follows a good one.
SIMULATION = SimulationConfig(accounts=40, days=1.0, seed=5, bad_input_share=0.02)


def user_env() -> dict[str, str]:
    """The caller's environment without SMSLEDGER_* settings: flags say everything."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SMSLEDGER_")}


def smsledger(*args: str, cwd: Path, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, *args], cwd=cwd, env=user_env(), input=stdin, capture_output=True, timeout=120,
    )


def succeed(*args: str, cwd: Path, stdin: bytes | None = None) -> bytes:
    done = smsledger(*args, cwd=cwd, stdin=stdin)
    assert done.returncode == 0, f"smsledger {' '.join(args)}: {done.stderr.decode()}"
    return done.stdout


def url(path: Path) -> str:
    return f"sqlite:///{path}"


def query(store: Path, view: str, *extra: str) -> list[dict[str, Any]]:
    rows = orjson.loads(succeed("query", view, "--json", "--store", url(store), *extra,
                                cwd=store.parent))
    assert isinstance(rows, list)
    return rows


def snapshot(store: Path) -> dict[str, bytes]:
    """The stdout of every `query VIEW --json`, the processes run side by side."""
    running = {
        view: subprocess.Popen(
            [*CLI, "query", view, "--json", "--store", url(store)], cwd=store.parent,
            env=user_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        for view in VIEWS
    }
    outputs = {}
    for view, process in running.items():
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, f"query {view}: {err.decode()}"
        outputs[view] = out
    return outputs


def copy_store(source: Path, target: Path) -> Path:
    """A consistent copy of a SQLite store (the backup API, whatever the journal mode)."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    src.close()
    dst.close()
    return target


def stored_event_count(store: Path) -> int:
    with sqlite3.connect(store) as db:
        count = db.execute("SELECT COUNT(*) FROM stored_events").fetchone()[0]
    db.close()
    return int(count)


def outcome_counts(summary: bytes) -> dict[str, int]:
    """`applied: 3, rejected: 1, …` as printed by `ingest`."""
    pairs = re.findall(r"(\w+): (\d+)", summary.decode())
    assert pairs, summary
    return {name: int(value) for name, value in pairs}


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Ingested:
    policy: str
    store: Path
    summary: bytes


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def stream(workdir: Path) -> Path:
    path = workdir / "traffic.jsonl"
    write_jsonl(simulate_lines(SIMULATION), path)
    return path


@pytest.fixture(scope="module")
def inputs(stream: Path) -> dict[str, set[str]]:
    """The external ids the input names, by kind; bad lines are skipped."""
    found: dict[str, set[str]] = {"account": set(), "order": set(), "deposit": set(),
                                  "request": set()}
    for line in stream.read_bytes().splitlines():
        try:
            data = orjson.loads(line).get("data")
        except (orjson.JSONDecodeError, AttributeError):
            continue
        for kind, ids in found.items():
            if isinstance(data, dict) and isinstance(data.get(kind), str):
                ids.add(data[kind])
    return found


@pytest.fixture(scope="module")
def stores(workdir: Path, stream: Path) -> dict[str, Ingested]:
    """The stream ingested from the file once per policy; tests that write use copies."""
    made = {}
    for policy in POLICIES:
        store = workdir / f"{policy}.db"
        summary = succeed("ingest", str(stream), "--store", url(store), "--policy", policy,
                          cwd=workdir)
        made[policy] = Ingested(policy, store, summary)
    return made


@pytest.fixture(scope="module")
def outputs(stores: dict[str, Ingested]) -> dict[str, dict[str, bytes]]:
    """Every `query VIEW --json` output of each policy's store, as ingested."""
    return {policy: snapshot(ingested.store) for policy, ingested in stores.items()}


# --- help ------------------------------------------------------------------------------


def test_console_script_help_lists_every_command_of_the_design() -> None:
    script = Path(sys.executable).with_name("smsledger")
    assert script.exists(), f"console script not installed beside {sys.executable}"
    done = subprocess.run([str(script), "--help"], capture_output=True, env=user_env(),
                          timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    choices = re.search(r"\{([a-z,-]+)\}", done.stdout.decode())
    assert choices is not None, done.stdout.decode()
    assert set(DESIGN_COMMANDS) <= set(choices.group(1).split(","))


@pytest.mark.parametrize("command", DESIGN_COMMANDS)
def test_every_command_accepts_store_and_policy(command: str, tmp_path: Path) -> None:
    shown = succeed(command, "--help", cwd=tmp_path).decode()
    assert "--store" in shown
    assert "--policy" in shown


def test_query_help_names_every_view(tmp_path: Path) -> None:
    shown = succeed("query", "--help", cwd=tmp_path).decode()
    for view in VIEWS:
        assert view in shown


# --- ingest and query ------------------------------------------------------------------


@pytest.mark.parametrize("policy", POLICIES)
def test_ingest_accounts_for_every_line_with_bad_ones_dead_lettered(
    policy: str, stores: dict[str, Ingested], stream: Path
) -> None:
    counts = outcome_counts(stores[policy].summary)
    lines = len(stream.read_bytes().splitlines())
    per_line = ("applied", "rejected", "ignored", "duplicates", "dead_lettered", "parked")
    assert sum(counts[name] for name in per_line) == lines
    assert counts["applied"] > 0
    assert counts["dead_lettered"] > 0
    assert counts["duplicates"] == 0
    assert len(query(stores[policy].store, "dead-letters")) == counts["dead_lettered"]


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("view", sorted(FIELDS))
def test_json_rows_have_exactly_the_design_fields_and_int_amounts(
    policy: str, view: str, stores: dict[str, Ingested]
) -> None:
    rows = query(stores[policy].store, view)
    assert rows, f"no {view} in the simulated day"
    for row in rows:
        assert set(row) == FIELDS[view], row
        assert all(is_int(row[name]) for name in AMOUNTS[view]), row
    if view == "refunds":
        assert all(row["requested"] is None or is_int(row["requested"]) for row in rows)
        assert {row["status"] for row in rows} <= REFUND_STATUSES
    if view == "orders":
        assert {row["state"] for row in rows} <= ORDER_STATES
    if view == "deposits":
        assert all(isinstance(row["blocked_by"], list) for row in rows)


@pytest.mark.parametrize("policy", POLICIES)
def test_views_use_the_ids_of_the_input_and_balances_add_up(
    policy: str, stores: dict[str, Ingested], inputs: dict[str, set[str]]
) -> None:
    store = stores[policy].store
    balances = query(store, "balances")
    assert {row["account"] for row in balances} <= inputs["account"]
    assert {row["order"] for row in query(store, "orders")} <= inputs["order"]
    # Besides the customers' requests, those a closure makes and those returning a deposit.
    engine_made = {closure_request(a) for a in inputs["account"]} | {
        returned_deposit_request(a, d) for a in inputs["account"] for d in inputs["deposit"]}
    assert {row["request"] for row in query(store, "refunds")} <= (
        inputs["request"] | engine_made)
    deposits = query(store, "deposits")
    assert {row["deposit"] for row in deposits} <= inputs["deposit"]
    assert sum(row["amount"] for row in deposits) == sum(row["deposited"] for row in balances)
    for row in balances:
        assert row["deposited"] == sum(row[name] for name in BUCKETS), row


@pytest.mark.parametrize("view", ["dead-letters", "rejections", "stats"])
def test_other_views_print_json_arrays_of_objects(view: str,
                                                  stores: dict[str, Ingested]) -> None:
    rows = query(stores["sms-service"].store, view)
    assert rows
    assert all(isinstance(row, dict) for row in rows)


def test_the_policy_flag_decides_wrong_codes_and_incomplete_texts(
    stores: dict[str, Ingested],
) -> None:
    """sms-service refunds a wrong code and an incomplete text; 1001sms only a missing SMS."""
    quality = {"wrong_code", "incomplete_sms"}

    def refunded_for_quality(policy: str) -> set[str]:
        orders = query(stores[policy].store, "orders")
        return {row["reason"] for row in orders if row["state"] == "refunded"} & quality

    assert refunded_for_quality("sms-service") == quality
    assert refunded_for_quality("1001sms") == set()


def test_ingest_from_stdin_equals_ingest_from_the_file(
    stores: dict[str, Ingested], outputs: dict[str, dict[str, bytes]], stream: Path,
    tmp_path: Path,
) -> None:
    store = tmp_path / "stdin.db"
    summary = succeed("ingest", "-", "--store", url(store), cwd=tmp_path,
                      stdin=stream.read_bytes())
    assert summary == stores["sms-service"].summary
    from_file, from_stdin = outputs["sms-service"], snapshot(store)
    for view in VIEWS:
        if view == "dead-letters":  # they name their source: the file, or "-"
            strip = [{k: v for k, v in row.items() if k != "source"}
                     for row in orjson.loads(from_file[view])]
            assert strip == [{k: v for k, v in row.items() if k != "source"}
                             for row in orjson.loads(from_stdin[view])]
        else:
            assert from_stdin[view] == from_file[view], view


# --- project and idempotency -----------------------------------------------------------


@pytest.mark.parametrize("policy", POLICIES)
def test_rebuild_leaves_every_query_byte_identical(
    policy: str, stores: dict[str, Ingested], outputs: dict[str, dict[str, bytes]],
    tmp_path: Path,
) -> None:
    store = copy_store(stores[policy].store, tmp_path / "rebuilt.db")
    # No --policy: the store remembers the one it was run with.
    said = succeed("project", "--rebuild", "--store", url(store), cwd=tmp_path).decode()
    assert f"rebuilt from {stored_event_count(store)} events" in said
    assert snapshot(store) == outputs[policy]
    # The rebuild drops the secondary indexes while it folds: every one is back.
    with sqlite3.connect(store) as connection:
        indexes = {r[0] for r in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert set(index_names()) <= indexes


@dataclass(frozen=True)
class Reingested:
    before: dict[str, bytes]
    after: dict[str, bytes]
    summary: bytes


@pytest.fixture(scope="module")
def reingested(
    stores: dict[str, Ingested], outputs: dict[str, dict[str, bytes]], stream: Path,
    workdir: Path,
) -> dict[str, Reingested]:
    """Each policy's store with the same file ingested a second time."""
    made = {}
    for policy, ingested in stores.items():
        store = copy_store(ingested.store, workdir / f"twice-{policy}.db")
        before = outputs[policy]
        summary = succeed("ingest", str(stream), "--store", url(store), "--policy", policy,
                          cwd=workdir)
        made[policy] = Reingested(before, snapshot(store), summary)
    return made


@pytest.mark.parametrize("policy", POLICIES)
def test_a_second_ingest_of_the_file_applies_nothing(
    policy: str, stores: dict[str, Ingested], reingested: dict[str, Reingested]
) -> None:
    first, second = outcome_counts(stores[policy].summary), outcome_counts(
        reingested[policy].summary)
    assert second["applied"] == second["rejected"] == second["expired"] == 0
    # Every line that carried a message id is known by it now.
    assert second["duplicates"] > first["applied"]


def _reingest_cases() -> list[Any]:
    return [pytest.param(policy, view, id=f"{policy}-{view}")
            for policy in POLICIES for view in VIEWS]


@pytest.mark.parametrize(("policy", "view"), _reingest_cases())
def test_ingesting_the_same_file_again_changes_no_query_output(
    policy: str, view: str, reingested: dict[str, Reingested]
) -> None:
    assert reingested[policy].after[view] == reingested[policy].before[view]


def test_a_later_ingest_without_policy_keeps_the_store_consistent(
    stores: dict[str, Ingested], outputs: dict[str, dict[str, bytes]], tmp_path: Path
) -> None:
    store = copy_store(stores["1001sms"].store, tmp_path / "later.db")
    tick = b'{"id":"tick-later","type":"clock.tick","at":"2026-06-03T00:00:00Z","data":{}}\n'
    # Without --policy, the store's own policy is used.
    succeed("ingest", "-", "--store", url(store), cwd=tmp_path, stdin=tick)
    audit = smsledger("audit", "--store", url(store), cwd=tmp_path)
    assert audit.returncode == 0, audit.stdout.decode()
    succeed("project", "--rebuild", "--store", url(store), cwd=tmp_path)
    assert query(store, "deposits") == orjson.loads(outputs["1001sms"]["deposits"])


# --- query --account -------------------------------------------------------------------


@pytest.fixture(scope="module")
def busy_account(stores: dict[str, Ingested]) -> str:
    """An account that asked for a refund and has orders and deposits."""
    store = stores["sms-service"].store
    with_refund = {row["account"] for row in query(store, "refunds")}
    with_orders = {row["account"] for row in query(store, "orders")}
    return sorted(with_refund & with_orders)[0]


@pytest.mark.parametrize("view", ["balances", "orders", "deposits", "refunds", "rejections"])
def test_query_account_keeps_only_that_accounts_rows(
    view: str, stores: dict[str, Ingested], busy_account: str
) -> None:
    store = stores["sms-service"].store
    everything = query(store, view)
    mine = query(store, view, "--account", busy_account)
    assert mine == [row for row in everything if row["account"] == busy_account]
    if view in ("balances", "orders", "deposits", "refunds"):
        assert mine
    assert len(mine) < len(everything)
    assert query(store, view, "--account", "no-such-account") == []


# --- history ---------------------------------------------------------------------------


def history(store: Path, ref: str, *extra: str) -> dict[str, Any]:
    shown = orjson.loads(succeed("history", ref, "--json", "--store", url(store), *extra,
                                 cwd=store.parent))
    assert set(shown) == {"kind", "events", "state"}
    return shown


@pytest.fixture(scope="module")
def completed_order(stores: dict[str, Ingested]) -> tuple[str, dict[str, Any]]:
    """A completed order whose completion came later than the event before it."""
    store = stores["sms-service"].store
    for row in query(store, "orders"):
        if row["state"] != "completed":
            continue
        shown = history(store, row["order"])
        events = shown["events"]
        if events[-1]["event"] == "Order.Completed" and events[-2]["at"] < events[-1]["at"]:
            return row["order"], shown
    raise AssertionError("no completed order in the simulated day")


def test_history_of_an_order_shows_its_events_and_final_state(
    completed_order: tuple[str, dict[str, Any]], stores: dict[str, Ingested]
) -> None:
    order, shown = completed_order
    assert shown["kind"] == "order"
    events = shown["events"]
    assert [e["version"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["event"] == "Order.Requested"
    projected = query(stores["sms-service"].store, "orders")
    row = next(r for r in projected if r["order"] == order)
    state = shown["state"]
    assert state["order"] == order
    assert state["state"] == "completed"
    assert (state["account"], state["price"], state["charged"], state["released"]) == (
        row["account"], row["price"], row["charged"], row["released"])


def test_history_as_of_a_time_before_completion_shows_the_earlier_state(
    completed_order: tuple[str, dict[str, Any]], stores: dict[str, Ingested]
) -> None:
    order, full = completed_order
    before_completion = full["events"][-2]["at"]
    shown = history(stores["sms-service"].store, order, "--as-of", before_completion)
    assert shown["events"] == full["events"][:-1]
    assert shown["state"]["state"] in ("sms_received", "waiting_retry")
    assert shown["state"]["charged"] == 0


def test_history_as_of_a_time_before_the_order_existed_says_so(
    completed_order: tuple[str, dict[str, Any]], stores: dict[str, Ingested]
) -> None:
    order, full = completed_order
    store = stores["sms-service"].store
    done = smsledger("history", order, "--as-of", "2000-01-01T00:00:00Z", "--json",
                     "--store", url(store), cwd=store.parent)
    assert done.returncode == 2
    assert done.stdout == b""
    said = done.stderr.decode().strip()
    assert said == (f"smsledger history: order {order} did not exist yet at "
                    f"2000-01-01T00:00:00Z: its first event is at {full['events'][0]['at']}")


def test_history_of_an_account_as_of_a_time_counts_only_earlier_deposits(
    stores: dict[str, Ingested], busy_account: str
) -> None:
    store = stores["sms-service"].store
    deposits = query(store, "deposits", "--account", busy_account)
    assert deposits
    as_of = deposits[0]["at"]
    shown = history(store, busy_account, "--as-of", as_of)
    assert shown["kind"] == "account"
    assert all(event["at"] <= as_of for event in shown["events"])
    assert shown["state"]["deposited"] == sum(d["amount"] for d in deposits if d["at"] <= as_of)
    now = history(store, busy_account)
    assert len(now["events"]) > len(shown["events"])
    balance = query(store, "balances", "--account", busy_account)[0]
    assert {k: now["state"][k] for k in ("deposited", *BUCKETS)} == {
        k: balance[k] for k in ("deposited", *BUCKETS)}


def test_history_prints_a_readable_table_and_state(
    completed_order: tuple[str, dict[str, Any]], stores: dict[str, Ingested]
) -> None:
    order, full = completed_order
    at = full["events"][-2]["at"]
    shown = succeed("history", order, "--as-of", at, "--store",
                    url(stores["sms-service"].store), cwd=stores["sms-service"].store.parent)
    text = shown.decode()
    assert text.startswith(f"order {order} as of {at}")
    assert "Order.Requested" in text
    assert "Order.Completed" not in text
    assert re.search(r"^\s+state\s+(sms_received|waiting_retry)$", text, re.MULTILINE), text


# --- audit -----------------------------------------------------------------------------


@pytest.mark.parametrize("policy", POLICIES)
def test_audit_of_an_untouched_store_is_clean(policy: str, stores: dict[str, Ingested]) -> None:
    store = stores[policy].store
    done = smsledger("audit", "--store", url(store), cwd=store.parent)
    said = done.stdout.decode()
    assert done.returncode == 0, said + done.stderr.decode()
    assert f"events replayed: {stored_event_count(store)}" in said
    assert "audit clean" in said


TAMPERING = {
    # A balance nudged by one cent: the replay and the rebuild both disagree.
    "balance": ("UPDATE balances SET available = available + 1 WHERE account = "
                "(SELECT MIN(account) FROM balances)", ["balances:", ".available projected"]),
    "order state": ("UPDATE orders SET state = 'completed' WHERE state = 'failed'",
                    ["projection orders"]),
    "deposit refundable": ("UPDATE deposits SET refundable = refundable + 1",
                           ["projection deposits"]),
    "refund amount": ("UPDATE refunds SET amount = amount + 100", ["projection refunds"]),
    "last event deleted": (
        "DELETE FROM stored_events WHERE rowid = (SELECT MAX(rowid) FROM stored_events)",
        ["projection"],
    ),
}


@pytest.mark.parametrize("tampering", sorted(TAMPERING))
def test_audit_fails_with_a_report_when_the_store_was_tampered_with(
    tampering: str, stores: dict[str, Ingested], tmp_path: Path
) -> None:
    store = copy_store(stores["sms-service"].store, tmp_path / "tampered.db")
    sql, expected = TAMPERING[tampering]
    with sqlite3.connect(store) as db:
        assert db.execute(sql).rowcount > 0
    db.close()
    done = smsledger("audit", "--store", url(store), cwd=tmp_path)
    said = done.stdout.decode()
    assert done.returncode == 1, said + done.stderr.decode()
    assert "audit FAILED" in said
    assert "audit clean" not in said
    for text in expected:
        assert text in said
    assert b"Traceback" not in done.stderr


# --- demo ------------------------------------------------------------------------------


def test_demo_emits_a_stream_that_ingests_to_the_same_state(tmp_path: Path) -> None:
    demo_store, emitted = tmp_path / "demo.db", tmp_path / "demo.jsonl"
    said = succeed("demo", "--accounts", "30", "--store", url(demo_store),
                   "--emit", str(emitted), cwd=tmp_path).decode()
    assert "audit: CLEAN" in said
    messages = re.search(r"^messages: ([\d,]+)", said, re.MULTILINE)
    assert messages is not None, said
    assert int(messages.group(1).replace(",", "")) == len(emitted.read_bytes().splitlines())
    again = tmp_path / "again.db"
    succeed("ingest", str(emitted), "--store", url(again), cwd=tmp_path)
    for view in ("balances", "orders", "deposits", "refunds"):
        assert query(again, view) == query(demo_store, view), view


# --- errors ----------------------------------------------------------------------------


BAD_ARGUMENTS = {
    "unsupported store": (["query", "balances", "--store", "mysql://x"], "mysql://x"),
    "missing input file": (["ingest", "{tmp}/missing.jsonl", "--store", "sqlite:///{tmp}/s.db"],
                           "missing.jsonl"),
    "directory as input": (["ingest", "{tmp}", "--store", "sqlite:///{tmp}/s.db"],
                           "cannot read"),
    "bad --as-of": (["history", "acc-0001", "--as-of", "yesterday", "--store", "{store}"],
                    "yesterday"),
    "unknown id": (["history", "no-such-thing", "--store", "{store}"], "no-such-thing"),
    "store directory missing": (["query", "orders", "--store", "sqlite:///{tmp}/no/dir/x.db"],
                                "does not exist"),
    "store url without a file": (["audit", "--store", "sqlite:///"], "sqlite:///"),
    # Names come from the policy files too (--policy-dir), so they are checked on load.
    "unknown policy": (["ingest", "-", "--policy", "lenient", "--store",
                        "sqlite:///{tmp}/s.db"], "unknown policy 'lenient'"),
}


@pytest.mark.parametrize("case", sorted(BAD_ARGUMENTS))
def test_bad_arguments_exit_2_with_one_line_and_no_traceback(
    case: str, stores: dict[str, Ingested], tmp_path: Path
) -> None:
    template, named = BAD_ARGUMENTS[case]
    store = url(stores["sms-service"].store)
    args = [arg.format(tmp=tmp_path, store=store) for arg in template]
    done = smsledger(*args, cwd=tmp_path)
    said = done.stderr.decode().strip().splitlines()
    assert done.returncode == 2, done.stderr.decode()
    assert len(said) == 1, said
    assert said[0].startswith(f"smsledger {args[0]}: ")
    assert named in said[0]
    assert done.stdout == b""


@pytest.mark.parametrize(
    "args",
    [
        ["query", "everything"],
        ["history"],
        ["frobnicate"],
    ],
    ids=["unknown view", "missing id", "unknown command"],
)
def test_malformed_command_lines_exit_2_with_usage(args: list[str], tmp_path: Path) -> None:
    done = smsledger(*args, cwd=tmp_path)
    said = done.stderr.decode()
    assert done.returncode == 2
    assert said.startswith("usage: smsledger")
    assert "error:" in said.strip().splitlines()[-1]
    assert "Traceback" not in said
    assert list(tmp_path.iterdir()) == []  # nothing opened, no default store created


def test_a_store_refuses_to_run_under_another_policy(
    stores: dict[str, Ingested], tmp_path: Path
) -> None:
    store = copy_store(stores["1001sms"].store, tmp_path / "other.db")
    tick = b'{"id":"tick-other","type":"clock.tick","at":"2026-06-03T00:00:00Z","data":{}}\n'
    refused = smsledger("ingest", "-", "--store", url(store), "--policy", "sms-service",
                        cwd=tmp_path, stdin=tick)
    assert refused.returncode == 2
    assert b"runs policy '1001sms'" in refused.stderr
    assert b"Traceback" not in refused.stderr


def test_a_missing_input_file_creates_no_store(tmp_path: Path) -> None:
    result = smsledger("ingest", str(tmp_path / "missing.jsonl"), "--store",
                       url(tmp_path / "fresh.db"), cwd=tmp_path)
    assert result.returncode == 2
    assert not (tmp_path / "fresh.db").exists()


@pytest.mark.parametrize("view", ["stats", "dead-letters"])
def test_account_filter_on_a_view_without_accounts_is_refused(
    view: str, stores: dict[str, Ingested], tmp_path: Path
) -> None:
    result = smsledger("query", view, "--account", "acc-0001", "--store",
                       url(stores["sms-service"].store), cwd=tmp_path)
    assert result.returncode == 2
    assert b"no --account filter" in result.stderr


def test_queries_and_an_ingest_running_at_once_all_succeed(
    stores: dict[str, Ingested], tmp_path: Path
) -> None:
    """Each query catches the read models up (a write): concurrent writers wait their turn."""
    store = copy_store(stores["sms-service"].store, tmp_path / "busy.db")
    tick = b'{"id":"tick-busy","type":"clock.tick","at":"2026-06-09T00:00:00Z","data":{}}\n'
    command = [sys.executable, "-m", "smsledger.infra.cli"]
    queries = [
        subprocess.Popen([*command, "query", view, "--json", "--store", url(store)],
                         cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for view in ("balances", "orders", "deposits", "refunds", "stats", "rejections")
    ]
    ingest = subprocess.run([*command, "ingest", "-", "--quiet", "--store", url(store)],
                            cwd=tmp_path, input=tick, capture_output=True, check=False)
    errors = [q.communicate(timeout=120)[1] for q in queries]
    assert ingest.returncode == 0, ingest.stderr.decode()
    assert [q.returncode for q in queries] == [0] * len(queries), errors


def test_a_large_ingest_folding_read_models_alongside_gives_the_sequential_result(
    tmp_path: Path,
) -> None:
    """Above the size threshold `ingest` folds the read models in a second process."""
    from smsledger.infra.alongside import WORTH_IT_BYTES
    from smsledger.infra.simulation.simulator import SimulationConfig, simulate_lines
    from tests.scenario import run

    lines = list(simulate_lines(SimulationConfig(accounts=900, seed=21, bad_input_share=0.01)))
    source = tmp_path / "large.jsonl"
    source.write_bytes(b"".join(lines))
    assert source.stat().st_size >= WORTH_IT_BYTES
    store = tmp_path / "large.db"
    succeed("ingest", str(source), "--quiet", "--store", url(store), cwd=tmp_path)
    reference = run([line.rstrip(b"\n") for line in lines], batch_size=2000)
    for view in ("balances", "orders", "deposits", "refunds", "stats"):
        assert query(store, view) == reference.query(view), view
    assert smsledger("audit", "--store", url(store), cwd=tmp_path).returncode == 0


# --- bench -------------------------------------------------------------------------------


def test_bench_reports_every_figure_and_its_checks_hold(tmp_path: Path) -> None:
    """A small run: the figures' values are the machine's; their presence and the
    fast-equals-naive and rebuild-equals-incremental checks are the software's."""
    report = orjson.loads(succeed("bench", "--messages", "1500", "--no-postgres",
                                  "--no-kafka", "--json", cwd=tmp_path))
    assert report["checks"] == {"rebuild_identical": True, "naive_balances_identical": True,
                                "chain_digests_match": True}
    assert report["chain"]["events"] == report["events"]
    assert 0 < report["chain"]["share_of_ingest"] < 1
    assert report["messages"] >= 1000
    for key in ("ingest_msgs_per_s", "ingest_two_process_msgs_per_s", "rebuild_events_per_s",
                "naive_msgs_per_s", "raw_rows_per_s"):
        assert report[key] > 0, key
    assert report["vs_naive"] > 0
    assert report["raw_limit_ratio"] > 0
    assert report["events"] > report["messages"]  # an order is several events
    assert report["peak_rss_mb"]["rebuild"] > 0
    assert report["peak_rss_mb"]["ingest"] > 0
    assert report["machine"]["cpus"] >= 1
    assert report["postgres_msgs_per_s"] is None
    assert report["kafka_msgs_per_s"] is None
    assert report["kafka"] is None
